"""KL and Jensen-Shannon divergences between fitted scikit-learn density models."""

from . import discrete
from ._divergence import js_distance, js_divergence, kl_divergence

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "discrete",
    "js_distance",
    "js_divergence",
    "kl_divergence",
]
