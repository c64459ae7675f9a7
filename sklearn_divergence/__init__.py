"""KL and Jensen-Shannon divergences between fitted scikit-learn density models."""

from . import discrete
from ._bounds import cauchy_schwarz_divergence, js_bounds, kl_bounds
from ._closed_form import gaussian_kl_divergence
from ._config import config_context, get_config, set_config
from ._data_space import DataSpace
from ._diagnostics import DegenerateFitWarning
from ._display import DivergenceDisplay
from ._divergence import js_distance, js_divergence, kl_divergence
from ._estimator import GMMDivergence
from ._permutation import DivergenceTestResult, divergence_test
from ._request import LowPrecisionWarning
from ._scorer import make_divergence_scorer

__version__ = "0.1.0"

__all__ = [
    "DataSpace",
    "DegenerateFitWarning",
    "DivergenceDisplay",
    "DivergenceTestResult",
    "GMMDivergence",
    "LowPrecisionWarning",
    "__version__",
    "cauchy_schwarz_divergence",
    "config_context",
    "discrete",
    "divergence_test",
    "gaussian_kl_divergence",
    "get_config",
    "js_bounds",
    "js_distance",
    "js_divergence",
    "kl_bounds",
    "kl_divergence",
    "make_divergence_scorer",
    "set_config",
]
