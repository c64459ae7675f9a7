"""The default density model: a GaussianMixture chosen by BIC over a fixed grid."""

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.utils.parallel import Parallel, delayed

from ._gaussian import COVARIANCE_TYPES

# The grid searched when no estimator is given: every covariance type with 1 to
# 10 components.
MAX_COMPONENTS = 10
BIC_GRID = {
    "n_components": tuple(range(1, MAX_COMPONENTS + 1)),
    "covariance_type": COVARIANCE_TYPES,
}
# spawn_key prefix of the seeds for model fitting; the Monte Carlo streams use
# (0, ...) for P and (1, ...) for Q.
FIT_STREAM = 2


def fit_seed(entropy, index):
    """A reproducible integer seed for fitting model ``index``."""
    sequence = np.random.SeedSequence(entropy, spawn_key=(FIT_STREAM, index))
    return int(sequence.generate_state(1)[0])


def _is_well_posed(model, n_samples, n_features):
    """Enough points behind every covariance estimate.

    Without this, on small samples BIC prefers components sitting on one or
    two points, whose variances collapse to ``reg_covar`` and whose likelihood
    is huge. Every component needs 2 points, and d + 1 for a full covariance;
    a tied covariance needs d + 1 residual degrees of freedom in all.
    """
    if model.covariance_type == "tied" and n_samples - model.n_components <= n_features:
        return False
    needed = n_features + 1 if model.covariance_type == "full" else 2
    return model.weights_.min() * n_samples >= needed


def _fitted_bic(X, n_components, covariance_type, seed):
    model = GaussianMixture(
        n_components=n_components, covariance_type=covariance_type, random_state=seed
    ).fit(X)
    well_posed = _is_well_posed(model, *X.shape)
    return (model.bic(X) if well_posed else np.inf), model


def fit_by_bic(X, *, random_state, n_jobs=None):
    """Fit one GaussianMixture per grid point and return the one with lowest BIC.

    Fits with too few points behind a covariance estimate are left out, except
    that one spherical component (2 points suffice) always remains. Ties go to
    the earlier grid point: fewer components, then the covariance types in the
    order full, tied, diag, spherical.
    """
    candidates = [
        (n_components, covariance_type)
        for n_components in BIC_GRID["n_components"]
        if 2 * n_components <= X.shape[0]
        for covariance_type in BIC_GRID["covariance_type"]
    ]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fitted_bic)(X, n_components, covariance_type, random_state)
        for n_components, covariance_type in candidates
    )
    scores = [bic for bic, _ in results]
    return results[int(np.argmin(scores))][1]
