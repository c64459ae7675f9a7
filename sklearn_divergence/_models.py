"""Turn fitted scikit-learn density estimators into densities the engine can use.

Every check here runs before any sampling, so bad input fails fast and no
user estimator is ever modified: fitted arrays are copied into new objects.
"""

import contextlib
import copy
import inspect
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from ._affine import affine_map, pull_back
from ._gaussian import GaussianMixtureParams
from ._validation import check_same_feature_names


class EstimatorDensity:
    """Generic fallback: any fitted estimator with ``sample`` and ``score_samples``.

    Draws are reproducible when ``sample`` accepts a ``random_state`` argument
    (as :class:`~sklearn.neighbors.KernelDensity` does) or when the estimator
    has a ``random_state`` parameter, which is then set on a shallow copy.

    With an invertible ``affine`` map z = A x + b, the estimator models z and
    this object is the density of x: log p(x) = log p_z(A x + b) + log|det A|.
    """

    def __init__(self, estimator, name, affine=None):
        self.estimator = estimator
        self.name = name
        self.affine = affine
        if affine is None:
            n_features = getattr(estimator, "n_features_in_", None)
        else:
            n_features = affine.matrix.shape[1]
        self.n_features = None if n_features is None else int(n_features)

    def log_density(self, X):
        if self.affine is not None:
            X = self.affine.apply(X)
        values = np.asarray(self.estimator.score_samples(X), dtype=np.float64)
        if values.shape != (X.shape[0],):
            raise ValueError(
                f"{self.name}.score_samples returned shape {values.shape}; "
                f"expected ({X.shape[0]},)."
            )
        if np.isnan(values).any() or np.isposinf(values).any():
            raise ValueError(
                f"{self.name}.score_samples returned NaN or +inf; a log-density "
                "must be finite or -inf."
            )
        return values if self.affine is None else values + self.affine.log_abs_det

    def sample(self, n_samples, seed_sequence):
        random_state = np.random.RandomState(np.random.MT19937(seed_sequence))
        estimator = self.estimator
        if "random_state" in inspect.signature(estimator.sample).parameters:
            drawn = estimator.sample(n_samples, random_state=random_state)
        else:
            params = estimator.get_params() if hasattr(estimator, "get_params") else {}
            if "random_state" in params:
                estimator = copy.copy(estimator)
                estimator.random_state = random_state
            else:
                warnings.warn(
                    f"{self.name}.sample takes no random_state, so its draws are "
                    "not controlled by random_state and may repeat across chunks.",
                    UserWarning,
                    stacklevel=4,
                )
            drawn = estimator.sample(n_samples)
        if isinstance(drawn, tuple):  # GaussianMixture-style (X, labels)
            drawn = drawn[0]
        X = np.asarray(drawn, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != n_samples:
            raise ValueError(
                f"{self.name}.sample({n_samples}) returned shape {X.shape}; "
                f"expected ({n_samples}, n_features)."
            )
        return X if self.affine is None else self.affine.solve(X)


def _require_methods(estimator, name, methods):
    missing = [m for m in methods if not callable(getattr(estimator, m, None))]
    if missing:
        raise TypeError(
            f"{name} must be a fitted density estimator such as GaussianMixture; "
            f"{type(estimator).__name__} has no {' or '.join(missing)} method."
        )


def _reject_non_density_estimator(estimator, name):
    """A scikit-learn estimator whose tags give it another type (an outlier
    detector's score_samples is a score, not a log-density) cannot pass."""
    if not isinstance(estimator, BaseEstimator):
        return
    estimator_type = get_tags(estimator).estimator_type
    if estimator_type not in (None, "density_estimator"):
        raise TypeError(
            f"{name} must be a density estimator such as GaussianMixture; "
            f"{type(estimator).__name__} has estimator_type {estimator_type!r} in "
            "scikit-learn's tags, and its score_samples is not a log-density."
        )


def _check_fitted(estimator, name):
    """check_is_fitted, extended to duck-typed estimators outside BaseEstimator."""
    if isinstance(estimator, BaseEstimator):
        check_is_fitted(estimator)
        return
    is_fitted = getattr(estimator, "__sklearn_is_fitted__", None)
    if is_fitted is not None:
        fitted = is_fitted()
    else:
        fitted = any(
            key.endswith("_") and not key.startswith("__") for key in vars(estimator)
        )
    if not fitted:
        raise NotFittedError(
            f"{name} ({type(estimator).__name__}) is not fitted yet; call its fit "
            "method first."
        )


def _check_finite(name, **arrays):
    for label, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} has non-finite values in {label}.")


_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
# Relative; float32 fits and factors computed another way stay well inside it.
_CONSISTENCY_TOLERANCE = 1e-4


def _precision_factor_shape(covariance_type, n_components, n_features):
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def _as_stack(array, kind):
    """A 'tied' mixture's single matrix as a stack of one, like 'full'."""
    return array if kind == "full" else array[None]


def _checked_precision_factors(estimator, name, weights, means, factors):
    """Check that a mixture's arrays agree with each other; return its precision
    Cholesky factors with a positive diagonal.

    Each check is O(K d^3) at most, small next to any estimate, and catches a
    hand-edited or corrupted mixture before it gives a silent wrong value.
    """
    kind = estimator.covariance_type
    if kind not in _COVARIANCE_TYPES:
        raise ValueError(
            f"{name}.covariance_type must be one of {_COVARIANCE_TYPES}, got {kind!r}."
        )
    if weights.ndim != 1 or means.ndim != 2 or means.shape[0] != weights.size:
        raise ValueError(
            f"{name}.weights_ has shape {weights.shape} and {name}.means_ "
            f"{means.shape}; expected (n_components,) and (n_components, "
            "n_features) with the same n_components."
        )
    expected = _precision_factor_shape(kind, *means.shape)
    if factors.shape != expected:
        raise ValueError(
            f"{name}.precisions_cholesky_ has shape {factors.shape}; a "
            f"'{kind}' mixture of {means.shape[0]} components in {means.shape[1]} "
            f"features needs {expected}."
        )
    matrices = kind in ("full", "tied")
    if matrices:
        stack = _as_stack(factors, kind)
        # scikit-learn stores the upper factor U of precision = U U^T.
        if np.any(np.tril(stack, k=-1)):
            raise ValueError(
                f"{name}.precisions_cholesky_ must be upper triangular, as "
                "scikit-learn stores it; it has entries below the diagonal."
            )
        diagonal = np.diagonal(stack, axis1=1, axis2=2)
    else:
        diagonal = factors
    if np.any(diagonal == 0):
        raise ValueError(
            f"{name}.precisions_cholesky_ has a zero on its diagonal: a singular "
            "precision, that is an infinite variance."
        )
    # U D with D = diag(+-1) gives the same precision U D D U^T = U U^T; the
    # log-determinant needs the factor with a positive diagonal.
    signs = np.sign(diagonal)
    factors = (
        (stack * signs[:, None, :]).reshape(factors.shape)
        if matrices
        else (factors * signs)
    )
    _check_covariances_match(estimator, name, kind, expected, diagonal * signs)
    return factors


def _check_covariances_match(estimator, name, kind, shape, factor_diagonal):
    """covariances_, which ``sample`` uses, must be the inverse of the precision.

    With Sigma = L L^T (L lower) the precision factor is U = L^-T, so
    diag(L) diag(U) = 1, to a few eps however ill-conditioned Sigma is (a
    check of U^T Sigma U = I would lose cond(Sigma) eps). It is a cheap
    necessary condition, and catches a covariance that was changed by hand.
    """
    covariances = getattr(estimator, "covariances_", None)
    if covariances is None:
        return
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariances.shape != shape:
        raise ValueError(
            f"{name}.covariances_ has shape {covariances.shape}; expected "
            f"{shape}, as precisions_cholesky_."
        )
    covariance_diagonal = None
    if kind in ("full", "tied"):
        with contextlib.suppress(np.linalg.LinAlgError):
            lower = np.linalg.cholesky(_as_stack(covariances, kind))
            covariance_diagonal = np.diagonal(lower, axis1=1, axis2=2)
    elif np.all(covariances > 0):
        covariance_diagonal = np.sqrt(covariances)
    if covariance_diagonal is None:
        raise ValueError(
            f"{name}.covariances_ is not positive definite, while "
            f"{name}.precisions_cholesky_ is: the two must describe the same "
            "mixture."
        )
    if not np.all(
        np.abs(covariance_diagonal * factor_diagonal - 1) <= _CONSISTENCY_TOLERANCE
    ):
        raise ValueError(
            f"{name}.covariances_ is not the inverse of the precision given by "
            f"{name}.precisions_cholesky_: the two must describe the same mixture."
        )


def _from_gaussian_mixture(estimator, name):
    # For BayesianGaussianMixture, weights_, means_ and precisions_cholesky_
    # (computed from covariances_) are the plug-in density that sample() draws
    # from; score_samples instead uses variational expectations.
    weights = np.array(estimator.weights_, dtype=np.float64)
    means = np.array(estimator.means_, dtype=np.float64)
    precisions_cholesky = np.array(estimator.precisions_cholesky_, dtype=np.float64)
    _check_finite(
        name,
        weights_=weights,
        means_=means,
        precisions_cholesky_=precisions_cholesky,
    )
    # Models fitted on float32 data store float32 weights: allow their rounding.
    tolerance = max(1e-8, 100 * np.finfo(np.asarray(estimator.weights_).dtype).eps)
    if np.any(weights < 0) or not np.isclose(
        weights.sum(), 1.0, rtol=0, atol=tolerance
    ):
        raise ValueError(f"{name}.weights_ must be non-negative and sum to 1.")
    precisions_cholesky = _checked_precision_factors(
        estimator, name, weights, means, precisions_cholesky
    )
    # A component of weight 0 adds nothing to the density, but its log-weight
    # of -inf turns stratified sums and matched pairs into NaN.
    kept = weights > 0
    if not kept.all():
        means = means[kept]
        if estimator.covariance_type != "tied":
            precisions_cholesky = precisions_cholesky[kept]
    return GaussianMixtureParams(
        weights=weights[kept] / weights[kept].sum(),
        means=means,
        covariance_type=estimator.covariance_type,
        precisions_cholesky=precisions_cholesky,
    )


def _from_kernel_density(estimator, name):
    if estimator.kernel != "gaussian":
        raise ValueError(
            f"{name} is a KernelDensity with kernel={estimator.kernel!r}, which "
            "cannot be sampled: scikit-learn samples only the 'gaussian' and "
            "'tophat' kernels, and only the 'gaussian' kernel is a Gaussian "
            "mixture. Refit it with kernel='gaussian'."
        )
    if estimator.metric != "euclidean":
        raise ValueError(
            f"{name} is a KernelDensity with metric={estimator.metric!r}; its "
            "gaussian kernel is a normalised Gaussian only for metric='euclidean'."
        )
    means = np.array(estimator.tree_.data, dtype=np.float64)
    sample_weight = estimator.tree_.sample_weight
    if sample_weight is None:
        weights = np.full(means.shape[0], 1.0 / means.shape[0])
    else:
        weights = np.array(sample_weight, dtype=np.float64)
        weights /= weights.sum()
    bandwidth = float(estimator.bandwidth_)
    _check_finite(name, training_data=means, bandwidth_=bandwidth)
    if bandwidth <= 0:
        raise ValueError(f"{name}.bandwidth_ must be positive, got {bandwidth}.")
    return GaussianMixtureParams(
        weights=weights,
        means=means,
        covariance_type="spherical",
        precisions_cholesky=np.full(means.shape[0], 1.0 / bandwidth),
    )


def as_density(estimator, name, *, needs_sampling):
    """Validate a fitted estimator and wrap it as a density.

    Returns a :class:`GaussianMixtureParams` for Gaussian mixtures and Gaussian
    kernel density estimates, and an :class:`EstimatorDensity` otherwise. A
    fitted search (``GridSearchCV`` and the like) stands for its
    ``best_estimator_``; a ``Pipeline`` for the input-space density of its
    final step, which needs its transformers to be affine and invertible.
    """
    transformers, estimator = split_pipeline(estimator, name)
    if transformers is not None:
        density = as_density(estimator, name, needs_sampling=needs_sampling)
        return _pulled_back(density, affine_map(transformers, name), name)
    if isinstance(estimator, GaussianMixture | BayesianGaussianMixture):
        check_is_fitted(estimator)
        return _from_gaussian_mixture(estimator, name)
    if isinstance(estimator, KernelDensity):
        check_is_fitted(estimator)
        if estimator.kernel == "tophat" and estimator.metric == "euclidean":
            return EstimatorDensity(estimator, name)
        return _from_kernel_density(estimator, name)
    needed = ("sample", "score_samples") if needs_sampling else ("score_samples",)
    _require_methods(estimator, name, needed)
    _reject_non_density_estimator(estimator, name)
    _check_fitted(estimator, name)
    return EstimatorDensity(estimator, name)


def split_pipeline(estimator, name):
    """(transformers, final estimator) of a fitted pipeline, else (None, estimator).

    A fitted search stands for its ``best_estimator_``.
    """
    if hasattr(estimator, "cv_results_") and not hasattr(estimator, "best_estimator_"):
        raise ValueError(
            f"{name} is a search fitted with refit=False, so it has no "
            "best_estimator_ to use as a density; refit it with refit=True."
        )
    estimator = getattr(estimator, "best_estimator_", estimator)
    if not isinstance(estimator, Pipeline):
        return None, estimator
    final = estimator.steps[-1][1]
    if final in (None, "passthrough"):
        raise ValueError(f"The pipeline {name} does not end in a density estimator.")
    if len(estimator.steps) == 1:
        return None, final
    return estimator[:-1], final


def _pulled_back(density, affine, name):
    """The input-space density when ``density`` models z = A x + b."""
    if isinstance(density, GaussianMixtureParams):
        return pull_back(density, affine, name)
    affine.check_invertible(name)
    # A nested pipeline's density already has its own map, applied after ours.
    if density.affine is not None:
        affine = affine.then(density.affine)
    return EstimatorDensity(density.estimator, name, affine=affine)


def check_same_features(density_p, density_q, names):
    """Raise unless both densities have the same number of features (if known)."""
    name_p, name_q = names
    if None not in (density_p.n_features, density_q.n_features) and (
        density_p.n_features != density_q.n_features
    ):
        raise ValueError(
            f"{name_p} and {name_q} must have the same number of features; "
            f"{name_p} has {density_p.n_features} and {name_q} has "
            f"{density_q.n_features}."
        )


def as_density_pair(p, q, *, sample_q):
    """Both densities, validated, with matching numbers and names of features."""
    check_same_feature_names(p, q, ("p", "q"))
    density_p = as_density(p, "p", needs_sampling=True)
    density_q = as_density(q, "q", needs_sampling=sample_q)
    check_same_features(density_p, density_q, ("p", "q"))
    return density_p, density_q


def require_mixtures(method, **densities):
    """Raise unless every density is a Gaussian mixture (for exact formulas)."""
    for name, density in densities.items():
        if not isinstance(density, GaussianMixtureParams):
            raise ValueError(
                f"{method} needs {name} to be a Gaussian mixture "
                "(GaussianMixture, BayesianGaussianMixture or KernelDensity with "
                "kernel='gaussian')."
            )


def check_density_estimator(estimator, n_rows):
    """Raise unless ``estimator`` is None or an unfitted density model that data
    of ``n_rows`` rows (at least; None if no data) can be fitted with."""
    if estimator is None:
        return
    if not hasattr(estimator, "fit"):
        raise TypeError(
            "estimator must be None or a density estimator with a fit method, got "
            f"{type(estimator).__name__} {estimator!r}."
        )
    # An unfitted search (GridSearchCV and the like) will fit its estimator.
    if hasattr(estimator, "param_grid") or hasattr(estimator, "param_distributions"):
        estimator = estimator.estimator
    final = split_pipeline(estimator, "estimator")[1]
    missing = [m for m in ("sample", "score_samples") if not hasattr(final, m)]
    if missing:
        raise TypeError(
            "estimator must be None or a density estimator (or a pipeline ending "
            f"in one); {type(final).__name__} has no {' or '.join(missing)} method."
        )
    _reject_non_density_estimator(final, "estimator")
    n_components = getattr(final, "n_components", None)
    if (
        n_rows is not None
        and isinstance(n_components, numbers.Integral)
        and n_components > n_rows
    ):
        raise ValueError(
            f"estimator has n_components={n_components}, more than the {n_rows} "
            "rows of the smaller data set: too few rows for this configuration."
        )
