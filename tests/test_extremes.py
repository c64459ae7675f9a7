"""Extreme inputs must give a right answer or an error, never a silent wrong
one (issue 11): covariances with condition numbers of 1e12 to 1e15, and
n_samples far beyond what can be run."""

import math
import tracemalloc
from fractions import Fraction

import joblib
import numpy as np
import pytest
from conftest import make_mixture
from scipy.stats import qmc, special_ortho_group
from sklearn.mixture import GaussianMixture

from sklearn_divergence import _montecarlo, js_divergence, kl_divergence
from sklearn_divergence._closed_form import kl_from_factors
from sklearn_divergence._models import as_density
from sklearn_divergence._request import check_density_for_method

# Whatever the condition number, the estimate must be within this many
# standard errors of the truth, or within this relative error of it (the
# exact reference rounds too).
N_STD_ERRORS = 4
RELATIVE_ROUNDING = 1e-9


def _exact(value):
    return Fraction(float(value))


def _upper_inverse(U):
    """U^-1 for an upper-triangular matrix of Fractions, by back substitution."""
    d = len(U)
    inverse = [[Fraction(0)] * d for _ in range(d)]
    for column in range(d):
        for i in range(d - 1, -1, -1):
            known = sum(U[i][k] * inverse[k][column] for k in range(i + 1, d))
            inverse[i][column] = (int(i == column) - known) / U[i][i]
    return inverse


def exact_gaussian_kl(mean_p, factor_p, mean_q, factor_q):
    """KL(P || Q) between N(mean, (U U^T)^-1), from precision factors U as
    scikit-learn stores them, in exact rational arithmetic but for the logs.

    The stored float64 factors define the densities that every method uses;
    the explicit covariances, with cond(Sigma) eps rounding, would not.
    """
    d = len(mean_p)
    U_p = [[_exact(x) for x in row] for row in factor_p]
    U_q = [[_exact(x) for x in row] for row in factor_q]
    # Sigma_p = A^T A with A = U_p^-1, so tr(Sigma_q^-1 Sigma_p) = ||A U_q||_F^2.
    A = _upper_inverse(U_p)
    trace = sum(
        sum(A[i][k] * U_q[k][j] for k in range(d)) ** 2
        for i in range(d)
        for j in range(d)
    )
    shift = [_exact(a) - _exact(b) for a, b in zip(mean_p, mean_q, strict=True)]
    whitened = [sum(U_q[k][i] * shift[k] for k in range(d)) for i in range(d)]
    quadratic = (trace + sum(w * w for w in whitened) - d) / 2
    log_det = sum(math.log(factor_p[i][i]) - math.log(factor_q[i][i]) for i in range(d))
    return float(quadratic) + log_det


def _ill_conditioned_pair(exponent, seed, d=5):
    """Two Gaussians with condition number 10**exponent and a KL of about 0.3:
    shared eigenvectors, eigenvalues logspace(0, -exponent) scaled by 0.5 to 2."""
    rng = np.random.default_rng(seed)
    rotation = special_ortho_group.rvs(d, random_state=rng)
    eigenvalues = np.logspace(0, -exponent, d)
    covariances = []
    for scale in (np.ones(d), rng.uniform(0.5, 2, d)):
        covariance = (rotation * (eigenvalues * scale)) @ rotation.T
        covariances.append((covariance + covariance.T) / 2)
    means = (np.zeros(d), 0.5 * rotation[:, 0])
    return tuple(
        make_mixture([1.0], mean[None], covariance[None])
        for mean, covariance in zip(means, covariances, strict=True)
    )


def _exact_mixture_kl_when_separated(p, q):
    """KL between mixtures whose components pair off, p_a with q_a, and are so
    far from all the others that they never overlap: then
    KL = sum_a w_a [KL(p_a || q_a) + log(w_a / w'_a)], with no tail terms."""
    return sum(
        p.weights_[a]
        * (
            exact_gaussian_kl(
                p.means_[a],
                p.precisions_cholesky_[a],
                q.means_[a],
                q.precisions_cholesky_[a],
            )
            + math.log(p.weights_[a] / q.weights_[a])
        )
        for a in range(p.n_components)
    )


def _collinear_clusters(seed, slope):
    """Two clusters 7000 apart, each stretched 1e3 along (1, slope, 1, -1) with
    1e-3 noise: fitted covariances have condition numbers of about 2e12."""
    rng = np.random.default_rng(seed)
    direction = np.array([1.0, slope, 1.0, -1.0])
    clusters = [
        rng.normal(size=(n, 1)) * 1e3 * direction
        + rng.normal(size=(n, 4)) * 1e-3
        + offset
        for n, offset in ((600, 0.0), (400, [0.0, 0.0, 5e3, 5e3]))
    ]
    return GaussianMixture(2, random_state=0).fit(np.vstack(clusters))


def _assert_within_error(value, std_error, truth):
    assert abs(value - truth) <= max(
        N_STD_ERRORS * std_error, RELATIVE_ROUNDING * abs(truth)
    )


@pytest.mark.parametrize("method", ["stratified", "rqmc"])
@pytest.mark.parametrize("exponent", [12, 13, 14, 15])
def test_ill_conditioned_gaussians_error_within_std_error(method, exponent):
    # The control means came from explicit covariance and precision matrices:
    # up to 5% wrong at cond 1e15, with a standard error of 1e-15.
    p, q = _ill_conditioned_pair(exponent, seed=2)
    truth = exact_gaussian_kl(
        p.means_[0], p.precisions_cholesky_[0], q.means_[0], q.precisions_cholesky_[0]
    )
    value, std_error = kl_divergence(
        p, q, method=method, n_samples=2**14, random_state=0, return_std=True
    )
    _assert_within_error(value, std_error, truth)
    assert std_error < 1e-6 * truth  # covered by a small error bar, not a huge one


@pytest.mark.parametrize("exponent", [0, 12, 15])
def test_factor_kl_rounding_bound_covers_its_error(exponent):
    # The bound is what the standard error adds for the control means.
    for seed in range(3):
        p, q = _ill_conditioned_pair(exponent, seed)
        lower_p = as_density(p, "p", needs_sampling=True).covariance_cholesky(0)
        kl, rounding = kl_from_factors(
            p.means_[0], lower_p, q.means_[0], q.precisions_cholesky_[0]
        )
        error = abs(
            kl
            - exact_gaussian_kl(
                p.means_[0],
                p.precisions_cholesky_[0],
                q.means_[0],
                q.precisions_cholesky_[0],
            )
        )
        assert error <= rounding < 1e-12 * kl


def test_ill_conditioned_js_matches_its_whitened_twin():
    # JS is invariant under x -> U_p^T (x - mean_p), which turns P into N(0, I)
    # and Q into a well-conditioned Gaussian: the twin's controls are exact.
    p, q = _ill_conditioned_pair(15, seed=1)
    U_p = p.precisions_cholesky_[0]
    lower_q = as_density(q, "q", needs_sampling=True).covariance_cholesky(0)
    twin_q_cov = (U_p.T @ lower_q) @ (U_p.T @ lower_q).T
    twin_p = make_mixture([1.0], np.zeros((1, 5)), np.eye(5)[None])
    twin_q = make_mixture(
        [1.0], (U_p.T @ (q.means_[0] - p.means_[0]))[None], [twin_q_cov]
    )
    options = {"method": "rqmc", "n_samples": 2**14, "random_state": 0}
    value, std_error = js_divergence(p, q, return_std=True, **options)
    twin, twin_std_error = js_divergence(twin_p, twin_q, return_std=True, **options)
    assert abs(value - twin) <= N_STD_ERRORS * np.hypot(std_error, twin_std_error)


@pytest.mark.parametrize("method", ["stratified", "rqmc"])
def test_fitted_collinear_mixture_error_within_std_error(method):
    # A real fit to nearly collinear data: cond ~2e12 in every component.
    p, q = _collinear_clusters(0, 1.0), _collinear_clusters(1, 1.0 + 1e-6)
    assert min(np.linalg.cond(c) for c in (*p.covariances_, *q.covariances_)) > 1e12
    truth = _exact_mixture_kl_when_separated(p, q)
    value, std_error = kl_divergence(
        p, q, method=method, n_samples=2**14, random_state=0, return_std=True
    )
    _assert_within_error(value, std_error, truth)


@pytest.fixture
def mixtures():
    rng = np.random.default_rng(0)
    p = GaussianMixture(2, random_state=0).fit(rng.normal(size=(200, 2)))
    q = GaussianMixture(2, random_state=0).fit(rng.normal(0.3, 1.0, (200, 2)))
    return p, q


@pytest.fixture
def no_sampling(monkeypatch):
    def fail(*args):
        raise AssertionError("sampling started")

    monkeypatch.setattr(_montecarlo, "run_tasks", fail)


@pytest.mark.parametrize("method", ["mc", "stratified", "rqmc"])
@pytest.mark.parametrize(
    "too_many", [lambda limit: limit + 1, lambda limit: 10**30], ids=["limit+1", "1e30"]
)
def test_n_samples_beyond_the_engine_is_rejected_before_sampling(
    mixtures, no_sampling, method, too_many
):
    # 10**30 gave an OverflowError; 10**13 with 'rqmc' ran until scipy's
    # Sobol' engine refused its 2**30 + 1-th point.
    n_samples = too_many(_montecarlo.max_samples(method))
    limit = r"n_samples (must be an integer in \[2, \d+\]|<= \d+)"
    with pytest.raises(ValueError, match=limit):
        kl_divergence(*mixtures, method=method, n_samples=n_samples)


def test_auto_falls_back_to_stratified_beyond_the_rqmc_limit(mixtures):
    density = as_density(mixtures[0], "p", needs_sampling=True)
    beyond = _montecarlo.max_samples("rqmc") + 1
    assert check_density_for_method("auto", density, "p", beyond, sampled=True) == (
        "stratified"
    )


def test_rqmc_limit_is_what_sobol_can_generate():
    per_replicate = qmc.Sobol(2, bits=_montecarlo._SOBOL_BITS).maxn
    assert _montecarlo.max_samples("rqmc") == _montecarlo.N_REPLICATES * per_replicate


class _Stop(Exception):
    pass


def test_huge_plan_is_generated_lazily(mixtures, monkeypatch):
    # n_samples = 10**13 with 'stratified' stored its 6e8 chunks (MemoryError).
    first_part = []

    def record_first_part(tasks, *args):
        first_part.extend(tasks)
        raise _Stop  # after one part: the plan is never run

    monkeypatch.setattr(_montecarlo, "run_tasks", record_first_part)
    density_p = as_density(mixtures[0], "p", needs_sampling=True)
    density_q = as_density(mixtures[1], "q", needs_sampling=False)
    tracemalloc.start()
    side = _montecarlo.make_side(
        "p", density_p, density_q, ("kl",), "stratified", 10**13, 0
    )
    with pytest.raises(_Stop):
        _montecarlo.estimate_sides([side], n_jobs=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert side.n_chunks == -(-(10**13) // _montecarlo.CHUNK_SIZE)
    assert len(first_part) == _montecarlo.TASKS_PER_CALL
    assert peak < 16 * 2**20


@pytest.mark.parametrize("method", ["mc", "stratified", "rqmc"])
def test_plan_run_in_parts_gives_identical_results(mixtures, monkeypatch, method):
    options = {"method": method, "n_samples": 5 * 2**14 + 7, "random_state": 3}
    whole = js_divergence(*mixtures, return_std=True, **options)
    # Both sides' 12 chunks (or 8 tasks of 4 scramblings) in parts of 5
    # tasks; threads stand in for processes (tests/test_dask.py runs those),
    # at no start-up.
    monkeypatch.setattr(_montecarlo, "TASKS_PER_CALL", 5)
    for n_jobs in (1, 2):
        with joblib.parallel_config(backend="threading"):
            parts = js_divergence(*mixtures, return_std=True, n_jobs=n_jobs, **options)
        assert parts == whole
