"""KL and Jensen-Shannon divergences between fitted scikit-learn density models."""

from ._divergence import js_distance, js_divergence, kl_divergence

__version__ = "0.1.0"

__all__ = ["__version__", "js_distance", "js_divergence", "kl_divergence"]
