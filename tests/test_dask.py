"""The Monte Carlo engine on a dask.distributed cluster, through joblib."""

import joblib
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from sklearn.mixture import GaussianMixture

from sklearn_divergence import GMMDivergence, js_divergence, kl_divergence


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    p = GaussianMixture(3, random_state=0).fit(rng.normal(0, 1, (500, 3)))
    q = GaussianMixture(2, random_state=0).fit(rng.normal(0.5, 1.2, (500, 3)))
    return p, q


def _results(p, q, n_jobs=None):
    options = {"random_state": 7, "n_jobs": n_jobs}
    return {
        "kl_mc": kl_divergence(
            p, q, method="mc", n_samples=70_000, return_std=True, **options
        ),
        "js_rqmc": js_divergence(p, q, n_samples=2**16, return_std=True, **options),
        "estimator": GMMDivergence(n_samples=50_000, **options).fit(p, q).summary(),
    }


def test_local_cluster_is_bit_identical_to_one_job(models):
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
