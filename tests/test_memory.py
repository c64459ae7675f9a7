"""Bounded memory: pairwise work and log-densities run in blocks (issue 11).

Peak memory is measured with tracemalloc, which sees numpy's allocations.
"""

import tracemalloc

import joblib
import numpy as np
import pytest
from conftest import make_mixture
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.neighbors import KernelDensity

from sklearn_divergence import (
    _approximations,
    _bounds,
    _gaussian,
    cauchy_schwarz_divergence,
    js_bounds,
    js_divergence,
    kl_bounds,
    kl_divergence,
)
from sklearn_divergence._gaussian import GaussianMixtureParams
from sklearn_divergence._models import as_density

BLOCK_MIB = _gaussian._MAX_BLOCK_FLOATS * 8 / 2**20
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def peak_mib(function, *args, **kwargs):
    """Peak memory allocated during the call, in MiB."""
    tracemalloc.start()
    try:
        function(*args, **kwargs)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def large_kde():
    """3000 kernels: a K_p x K_p matrix of pairs alone takes 69 MiB."""
    X = np.random.default_rng(0).normal(size=(3000, 2))
    return KernelDensity(bandwidth=0.3).fit(X)


@pytest.fixture(scope="module")
def small_mixture():
    rng = np.random.default_rng(1)
    covariances = np.stack([np.eye(2) * s for s in (0.5, 1.0, 1.5, 2.0)])
    return make_mixture(np.ones(4), rng.normal(size=(4, 2)), covariances)


@pytest.mark.parametrize(
    "call",
    [
        kl_bounds,
        js_bounds,
        lambda p, q: kl_divergence(p, q, method="variational"),
    ],
    ids=["kl_bounds", "js_bounds", "variational"],
)
def test_peak_memory_of_pairwise_methods_is_bounded(large_kde, small_mixture, call):
    # Before the blocks: 0.4 to 1.3 GiB, growing as K_p^2.
    assert peak_mib(call, large_kde, small_mixture) < 2 * BLOCK_MIB


def _large_full_mixture(n_components, d, seed=0):
    rng = np.random.default_rng(seed)
    factors = np.triu(rng.normal(0, 0.1, (n_components, d, d)), k=1)
    factors += np.eye(d) * rng.uniform(0.5, 2.0, (n_components, d, 1))
    return GaussianMixtureParams(
        np.full(n_components, 1.0 / n_components),
        rng.normal(size=(n_components, d)),
        "full",
        factors,
    )


def test_log_density_of_many_components_is_bounded_and_exact():
    # K d = 200,000 values per point: 64 points took 100 MiB in one block.
    mixture = _large_full_mixture(20_000, 10)
    X = np.random.default_rng(1).normal(size=(64, 10))
    mixture.log_density(X[:1])  # the cached per-component terms, once
    assert peak_mib(mixture.log_density, X) < 2 * BLOCK_MIB

    gather = np.array([[0, 7_000, 19_999, 13_500] * 2])
    log_density, gathered = mixture.log_density(X[:8], gather=gather)
    weighted = mixture.log_prob(X[:8])
    np.testing.assert_allclose(
        log_density, logsumexp(weighted, axis=0), rtol=1e-13, atol=0
    )
    # Equal up to the matrix product's rounding, which depends on the shape
    # of the block of components.
    np.testing.assert_allclose(
        gathered, np.take_along_axis(weighted, gather, axis=0), rtol=1e-13, atol=0
    )


def test_variational_upper_raises_before_allocating(large_kde, small_mixture):
    def call():
        with pytest.raises(ValueError) as error:
            js_divergence(large_kde, small_mixture, method="variational_upper")
        return error

    assert peak_mib(call) < 4
    message = str(call().value)
    assert "p has 3000 components and M = (P + Q) / 2 has 3004" in message
    assert "method='variational'" in message
    other = KernelDensity(bandwidth=0.5).fit(np.zeros((3000, 2)))
    with pytest.raises(ValueError, match="p has 3000 components and q has 3000"):
        kl_divergence(large_kde, other, method="variational_upper")


def _random_model(rng, n_components, covariance_type, d=3):
    """A mixture with random parameters (or a KDE on random points), unfitted."""
    means = rng.normal(0, 1.5, (n_components, d))
    if covariance_type == "kde":
        return KernelDensity(bandwidth=0.6).fit(means)
    variances = rng.uniform(0.5, 2.0, (n_components, d))
    if covariance_type == "full":
        rotations = np.linalg.qr(rng.normal(size=(n_components, d, d)))[0]
        covariances = (rotations * variances[:, None, :]) @ rotations.transpose(0, 2, 1)
    elif covariance_type == "tied":
        covariances = np.diag(variances[0])
    else:
        covariances = variances if covariance_type == "diag" else variances[:, 0]
    weights = rng.uniform(0.5, 1.5, n_components)
    return make_mixture(weights, means, covariances, covariance_type)


def _all_pairwise_values(p, q):
    values = [*kl_bounds(p, q), *js_bounds(p, q), cauchy_schwarz_divergence(p, q)]
    for method in _approximations.APPROXIMATIONS:
        values.append(kl_divergence(p, q, method=method))
    values.append(js_divergence(p, q, method="variational"))
    return np.array(values)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "kde"])
def test_tiny_blocks_give_the_same_values(monkeypatch, covariance_type):
    # Blocks of one row of p and 2 to 9 components of q for the pairwise
    # terms, of one component for the log-densities: sums, argmins and
    # logsumexps are carried across blocks of rows and of columns.
    rng = np.random.default_rng(len(covariance_type))
    p, q = (_random_model(rng, k, covariance_type) for k in (12, 20))
    reference = _all_pairwise_values(p, q)
    monkeypatch.setattr(_gaussian, "_MAX_BLOCK_FLOATS", 64)
    np.testing.assert_allclose(_all_pairwise_values(p, q), reference, rtol=1e-12)


def test_monte_carlo_over_component_blocks_is_bit_identical_across_jobs(
    monkeypatch, small_mixture
):
    kde = _random_model(np.random.default_rng(2), 60, "kde", d=2)
    # RQMC with control variates: gathered component log-densities too.
    options = {"n_samples": 2**13, "random_state": 0}
    reference = js_divergence(kde, small_mixture, **options)
    # Blocks of 16 components: KDE log-densities summed over 4 blocks.
    monkeypatch.setattr(_gaussian, "_MAX_BLOCK_FLOATS", 2**10)
    with joblib.parallel_config(backend="threading"):
        values = [
            js_divergence(kde, small_mixture, n_jobs=n_jobs, **options)
            for n_jobs in (1, 2)
        ]
    assert values[0] == values[1]
    assert values[0] == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize("kernel_shared", [True, False])
def test_log_overlaps_against_scipy(kernel_shared, small_mixture):
    data = np.random.default_rng(3).normal(size=(20, 2))
    p = as_density(
        KernelDensity(bandwidth=0.4).fit(data) if kernel_shared else small_mixture,
        "p",
        needs_sampling=False,
    )
    q = as_density(small_mixture, "q", needs_sampling=False)
    assert p.has_shared_covariance == kernel_shared
    expected = [
        [
            multivariate_normal.logpdf(mean_p, mean_q, cov_p + cov_q)
            for mean_q, cov_q in zip(q.means, q.covariance_matrices, strict=True)
        ]
        for mean_p, cov_p in zip(p.means, p.covariance_matrices, strict=True)
    ]
    np.testing.assert_allclose(
        _approximations._log_overlaps(p, q), expected, rtol=1e-12
    )


def test_bounds_without_the_variational_refinement_stay_valid():
    rng = np.random.default_rng(4)
    p, q = (_random_model(rng, k, "full") for k in (12, 20))
    lower, upper = kl_bounds(p, q)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_bounds, "MAX_MATRIX_PAIRS", 0)
        alone = kl_bounds(p, q)
    assert alone[0] == lower
    assert alone[1] >= upper


def test_standard_coordinates_against_a_large_kde_are_bounded():
    # A mixture sampled against a KDE whose kernels sit far apart, so that
    # the expansion would round and the blocks would subtract: the largest
    # KDE still evaluated in standard coordinates stays within the blocks'
    # memory, both building them and evaluating a block.
    rng = np.random.default_rng(0)
    d = 8
    sampled = _gaussian.GaussianMixtureParams(
        np.ones(1), np.zeros((1, d)), "full", np.eye(d)[None]
    )
    # 64 (d + 1) floats per component in a block: 7281 components fit 2**22.
    n_kernels = _gaussian._MAX_BLOCK_FLOATS // (64 * (d + 1)) - 1
    kde = _gaussian.GaussianMixtureParams(
        np.full(n_kernels, 1 / n_kernels),
        rng.normal(0, 30, (n_kernels, d)),
        "spherical",
        np.full(n_kernels, 1 / 0.05),
    )
    coordinates = _gaussian.StandardCoordinates.of(sampled, (sampled, kde))
    assert coordinates is not None
    Z = rng.normal(size=(16384, d))
    assert not coordinates._expands(Z)
    strata = np.zeros(Z.shape[0], dtype=np.intp)
    build = _gaussian.StandardCoordinates.of
    assert peak_mib(build, sampled, (sampled, kde)) < 2 * BLOCK_MIB
    # Both share a covariance: KL would condition, but the 7281 directions
    # span all 8 dimensions, found without a 7281 x 7281 factor.
    assert peak_mib(build, sampled, (sampled, kde), conditional=True) < 2 * BLOCK_MIB
    assert build(sampled, (sampled, kde), conditional=True).basis is None
    assert peak_mib(next, coordinates.blocks(Z, strata)) < 2 * BLOCK_MIB
    bigger = _gaussian.GaussianMixtureParams(
        np.full(n_kernels + 1, 1 / (n_kernels + 1)),
        rng.normal(0, 30, (n_kernels + 1, d)),
        "spherical",
        np.full(n_kernels + 1, 1 / 0.05),
    )
    assert _gaussian.StandardCoordinates.of(sampled, (sampled, bigger)) is None
