"""KL and Jensen-Shannon divergences between fitted scikit-learn density models."""

from . import discrete
from ._closed_form import gaussian_kl_divergence
from ._divergence import js_distance, js_divergence, kl_divergence

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "discrete",
    "gaussian_kl_divergence",
    "js_distance",
    "js_divergence",
    "kl_divergence",
]
