"""The Monte Carlo engine on a dask.distributed cluster, through joblib."""

import joblib
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from sklearn.mixture import GaussianMixture

from sklearn_divergence import (
    GMMDivergence,
    divergence_test,
    js_divergence,
    kl_divergence,
)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    p = GaussianMixture(3, random_state=0).fit(rng.normal(0, 1, (500, 3)))
    q = GaussianMixture(2, random_state=0).fit(rng.normal(0.5, 1.2, (500, 3)))
    return p, q


def _results(p, q, n_jobs=None):
    options = {"random_state": 7, "n_jobs": n_jobs}
    rng = np.random.default_rng(1)
    X_p, X_q = rng.normal(0, 1, (80, 2)), rng.normal(0.3, 1, (60, 2))
    test = divergence_test(X_p, X_q, n_permutations=6, n_samples=2048, **options)
    bootstrap = GMMDivergence(
        n_samples=2048, n_bootstrap=9, confidence_level=0.8, **options
    ).fit(X_p, X_q)
    return {
        "test": (test.statistic, test.pvalue, test.null_distribution.tolist()),
        "bootstrap": {
            name: values.tolist()
            for name, values in bootstrap.bootstrap_distribution_.items()
        },
        "kl_mc": kl_divergence(
            p, q, method="mc", n_samples=70_000, return_std=True, **options
        ),
        "js_rqmc": js_divergence(p, q, n_samples=2**16, return_std=True, **options),
        "estimator": GMMDivergence(n_samples=50_000, **options).fit(p, q).summary(),
    }


def test_local_cluster_is_bit_identical_to_one_job(models):
    # The Monte Carlo chunks, the BIC grid, the permutations and the bootstrap
    # replicates all run on the cluster.
    p, q = models
    serial = _results(p, q, n_jobs=1)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        distributed = _results(p, q)
    assert distributed == serial
