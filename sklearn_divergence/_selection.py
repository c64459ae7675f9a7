"""The default density model: a GaussianMixture chosen by BIC over a fixed grid."""

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.utils.parallel import Parallel, delayed

from ._gaussian import COVARIANCE_TYPES

# The grid searched when no estimator is given: every covariance type with 1 to
# 10 components (at most one component per sample).
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


def _fitted_bic(X, n_components, covariance_type, seed):
    model = GaussianMixture(
        n_components=n_components, covariance_type=covariance_type, random_state=seed
    ).fit(X)
    return model.bic(X), model


def fit_by_bic(X, *, random_state, n_jobs=None):
    """Fit one GaussianMixture per grid point and return the one with lowest BIC.

    Ties go to the earlier grid point: fewer components, then the covariance
    types in the order full, tied, diag, spherical.
    """
    n_samples = X.shape[0]
    candidates = [
        (n_components, covariance_type)
        for n_components in BIC_GRID["n_components"]
        if n_components <= n_samples
        for covariance_type in BIC_GRID["covariance_type"]
    ]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fitted_bic)(X, n_components, covariance_type, random_state)
        for n_components, covariance_type in candidates
    )
    scores = [bic for bic, _ in results]
    return results[int(np.argmin(scores))][1]
