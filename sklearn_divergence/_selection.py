"""The default density model: a GaussianMixture chosen by BIC over a fixed grid."""

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.utils.parallel import Parallel, delayed

from ._diagnostics import floor_variances, n_free_parameters, starved_components
from ._fitting import refit
from ._gaussian import COVARIANCE_TYPES

# The grid searched when no estimator is given: every covariance type with 1 to
# 10 components.
MAX_COMPONENTS = 10
BIC_GRID = {
    "n_components": tuple(range(1, MAX_COMPONENTS + 1)),
    "covariance_type": COVARIANCE_TYPES,
}


def _is_supported(model, X, n_rows):
    """Whether a sample of ``n_rows`` rows like ``X`` can support the fit.

    On small samples BIC prefers components sitting on a few points, or on
    one value of a discrete feature, whose variances collapse to
    ``reg_covar`` and whose likelihood is huge. Such fits are left out: those
    with too few rows per component, and those with a variance at the floor
    in a feature that the data do vary in.
    """
    if starved_components(model, n_rows).size:
        return False
    varying = np.ptp(X, axis=0) > 0
    return not (floor_variances(model) & varying).any()


def _fitted_bic(X, n_components, covariance_type, seed, n_rows):
    model = refit(
        GaussianMixture(
            n_components=n_components,
            covariance_type=covariance_type,
            random_state=seed,
        ),
        X,
    )
    return (model.bic(X) if _is_supported(model, X, n_rows) else np.inf), model


def fit_by_bic(X, *, random_state, n_jobs=None, n_rows=None):
    """Fit one GaussianMixture per grid point and return the one with lowest BIC.

    ``n_rows`` (default: the rows of ``X``) is the sample size that the chosen
    configuration must support: :func:`divergence_test` selects on the pooled
    data a configuration to refit on each of its smaller parts. Configurations
    with as many free parameters as ``n_rows`` are not fitted, and fits that
    :func:`_is_supported` rejects are left out, except that one spherical
    component always remains. Ties go to the earlier grid point: fewer
    components, then the covariance types in the order full, tied, diag,
    spherical.
    """
    n_rows = X.shape[0] if n_rows is None else n_rows
    n_features = X.shape[1]
    candidates = [
        (n_components, covariance_type)
        for n_components in BIC_GRID["n_components"]
        for covariance_type in BIC_GRID["covariance_type"]
        if (n_components, covariance_type) == (1, "spherical")
        or (
            n_free_parameters(n_components, n_features, covariance_type) < n_rows
            and 2 * n_components <= n_rows
        )
    ]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fitted_bic)(X, n_components, covariance_type, random_state, n_rows)
        for n_components, covariance_type in candidates
    )
    scores = [bic for bic, _ in results]
    if np.isinf(scores).all():
        # Not even one spherical component is supported; it is still the
        # simplest model, and the caller's DegenerateFitWarning will say why.
        return results[candidates.index((1, "spherical"))][1]
    return results[int(np.argmin(scores))][1]
