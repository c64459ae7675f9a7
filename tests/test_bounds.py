"""Guaranteed bounds and the Cauchy-Schwarz divergence against exact values."""

import numpy as np
import pytest
from conftest import _quad, log_pdf_1d, make_mixture, mixture_1d, quad_js, quad_kl
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from sklearn_divergence import (
    cauchy_schwarz_divergence,
    gaussian_kl_divergence,
    js_bounds,
    js_divergence,
    kl_bounds,
    kl_divergence,
)

LOG2 = np.log(2)


@st.composite
def mixtures_1d(draw):
    k = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.floats(0.1, 20.0))
    return mixture_1d(
        rng.dirichlet(np.ones(k)) + 1e-3,
        rng.normal(0, spread, k),
        np.exp(rng.uniform(-1.5, 1.5, k)),
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(mixtures_1d(), mixtures_1d())
def test_bounds_contain_quadrature_truth(p, q):
    kl_lower, kl_upper = kl_bounds(p, q)
    truth = quad_kl(p, q)
    assert 0 <= kl_lower <= truth + 1e-9
    assert truth <= kl_upper + 1e-9
    js_lower, js_upper = js_bounds(p, q)
    js_truth = quad_js(p, q)
    assert 0 <= js_lower <= js_truth + 1e-9
    assert js_truth <= js_upper + 1e-9 and js_upper <= LOG2


@pytest.mark.parametrize("seed", range(6))
def test_bounds_contain_high_precision_reference(seed):
    """d = 2 to 5, every covariance type; reference: RQMC with 2**20 points."""
    rng = np.random.default_rng(seed)
    d = 2 + seed % 4
    covariance_type = ["full", "tied", "diag", "spherical"][seed % 4]
    models = []
    for k in (3, 2):
        data = rng.normal(size=(400, d)) + rng.integers(0, 3, (400, 1)) * 1.5
        models.append(
            GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(
                data
            )
        )
    p, q = models
    for divergence, bounds in ((kl_divergence, kl_bounds), (js_divergence, js_bounds)):
        value, se = divergence(
            p, q, n_samples=2**20, random_state=seed, n_jobs=-1, return_std=True
        )
        assert se < 1e-3
        lower, upper = bounds(p, q)
        assert lower - 5 * se <= value <= upper + 5 * se


def test_bounds_are_tight_for_single_gaussians():
    p = make_mixture([1.0], [[0.0, 1.0]], np.array([[[2.0, 0.3], [0.3, 1.0]]]))
    q = make_mixture([1.0], [[1.0, -1.0]], np.eye(2)[None])
    exact = gaussian_kl_divergence(
        [0.0, 1.0], [[2.0, 0.3], [0.3, 1.0]], [1.0, -1.0], np.eye(2)
    )
    lower, upper = kl_bounds(p, q)
    assert upper == pytest.approx(exact, rel=1e-10)
    assert lower <= exact
    assert kl_bounds(p, q, base=2) == pytest.approx((lower / LOG2, upper / LOG2))
    lower_self, upper_self = kl_bounds(p, p)
    assert lower_self == 0.0 and 0.0 <= upper_self < 1e-12


def test_bounds_errors(blobs):
    p = GaussianMixture(2, random_state=0).fit(blobs[0])
    tophat = KernelDensity(kernel="tophat").fit(blobs[0])
    with pytest.raises(ValueError, match="kl_bounds needs q to be a Gaussian"):
        kl_bounds(p, tophat)
    other = GaussianMixture(1).fit(blobs[0][:, :2])
    with pytest.raises(ValueError, match="p has 3 and q has 2"):
        js_bounds(p, other)
    with pytest.raises(ValueError, match="base must be"):
        kl_bounds(p, p, base=-1)


def quad_cauchy_schwarz(p, q):
    def inner(first, second):
        # Relative accuracy only: far-apart pairs overlap by e^-100 or less.
        return _quad(
            lambda x: np.exp(log_pdf_1d(first, x) + log_pdf_1d(second, x)),
            [first, second],
            epsabs=0.0,
        )

    return -np.log(inner(p, q)) + 0.5 * np.log(inner(p, p)) + 0.5 * np.log(inner(q, q))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(mixtures_1d(), mixtures_1d())
def test_cauchy_schwarz_against_quadrature(p, q):
    value = cauchy_schwarz_divergence(p, q)
    truth = quad_cauchy_schwarz(p, q)
    # Relative error of quad's integrals turns into absolute error here.
    assert value == pytest.approx(truth, rel=1e-6, abs=1e-6)
    assert value == pytest.approx(cauchy_schwarz_divergence(q, p), rel=1e-12)
    assert value >= 0
    assert cauchy_schwarz_divergence(p, p) == 0.0


def test_cauchy_schwarz_single_gaussians():
    s1, s2, m = 0.5, 2.0, 1.5
    cross = np.exp(-(m**2) / (2 * (s1**2 + s2**2))) / np.sqrt(
        2 * np.pi * (s1**2 + s2**2)
    )
    expected = (
        -np.log(cross)
        + 0.5 * np.log(1 / (2 * s1 * np.sqrt(np.pi)))
        + 0.5 * np.log(1 / (2 * s2 * np.sqrt(np.pi)))
    )
    p, q = mixture_1d([1.0], [0.0], [s1]), mixture_1d([1.0], [m], [s2])
    assert cauchy_schwarz_divergence(p, q) == pytest.approx(expected, rel=1e-12)
    assert cauchy_schwarz_divergence(p, q, base=2) == pytest.approx(expected / LOG2)


def test_bounds_of_a_mixture_against_itself_are_in_order():
    # For P = P the bounds nearly meet at 0; rounding put the upper one below the
    # lower one (by about 4e-16) in 82 of 300 such fits.
    inverted = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        d = 1 + seed % 3
        X = rng.normal(size=(60, d)) + 3 * rng.normal(size=(1, d))
        p = GaussianMixture(1 + seed % 4, random_state=0).fit(X)
        for bounds in (kl_bounds, js_bounds):
            lower, upper = bounds(p, p)
            if not 0 <= lower <= upper:
                inverted.append((seed, bounds.__name__, lower, upper))
    assert inverted == []
