"""Deterministic approximations (Hershey & Olsen 2007) against exact values."""

import numpy as np
import pytest
from conftest import make_mixture, mixture_1d, quad_js, quad_kl
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from sklearn_divergence import gaussian_kl_divergence, js_divergence, kl_divergence

APPROXIMATIONS = [
    "variational",
    "variational_upper",
    "product",
    "matched",
    "gaussian",
    "unscented",
]
EXACT_FOR_SINGLE_GAUSSIANS = [m for m in APPROXIMATIONS if m != "product"]
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def fitted_pair(blobs, covariance_type, n_components=(3, 2)):
    p = GaussianMixture(
        n_components[0], covariance_type=covariance_type, random_state=0
    ).fit(blobs[0])
    q = GaussianMixture(
        n_components[1], covariance_type=covariance_type, random_state=0
    ).fit(blobs[1])
    return p, q


def dense_covariances(model):
    """(K, d, d) covariances of a fitted GaussianMixture, any covariance_type."""
    k, d = model.means_.shape
    kind, stored = model.covariance_type, model.covariances_
    if kind == "full":
        return stored
    if kind == "tied":
        return np.broadcast_to(stored, (k, d, d))
    if kind == "diag":
        return np.stack([np.diag(v) for v in stored])
    return np.stack([v * np.eye(d) for v in stored])


@pytest.mark.parametrize("method", EXACT_FOR_SINGLE_GAUSSIANS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_exact_for_single_gaussians(blobs, method, covariance_type):
    p, q = fitted_pair(blobs, covariance_type, (1, 1))
    expected = gaussian_kl_divergence(
        p.means_[0], dense_covariances(p)[0], q.means_[0], dense_covariances(q)[0]
    )
    value, se = kl_divergence(p, q, method=method, return_std=True)
    assert value == pytest.approx(expected, rel=1e-9)
    assert se == 0.0


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_formulas_against_independent_implementation(blobs, covariance_type):
    """Written from the paper's formulas with scipy, separately from the package."""
    p, q = fitted_pair(blobs, covariance_type)
    cov_p, cov_q = dense_covariances(p), dense_covariances(q)

    def kl(m0, c0, m1, c1):
        return gaussian_kl_divergence(m0, c0, m1, c1)

    def pairwise(means_a, covs_a, means_b, covs_b):
        return np.array(
            [
                [kl(ma, ca, mb, cb) for mb, cb in zip(means_b, covs_b, strict=True)]
                for ma, ca in zip(means_a, covs_a, strict=True)
            ]
        )

    def overlap(means_a, covs_a, means_b, covs_b):
        return np.array(
            [
                [
                    multivariate_normal.logpdf(ma, mb, ca + cb)
                    for mb, cb in zip(means_b, covs_b, strict=True)
                ]
                for ma, ca in zip(means_a, covs_a, strict=True)
            ]
        )

    log_pi, log_omega = np.log(p.weights_), np.log(q.weights_)
    d_pp = pairwise(p.means_, cov_p, p.means_, cov_p)
    d_pq = pairwise(p.means_, cov_p, q.means_, cov_q)
    variational = p.weights_ @ (
        logsumexp(log_pi - d_pp, axis=1) - logsumexp(log_omega - d_pq, axis=1)
    )
    product = p.weights_ @ (
        logsumexp(log_pi + overlap(p.means_, cov_p, p.means_, cov_p), axis=1)
        - logsumexp(log_omega + overlap(p.means_, cov_p, q.means_, cov_q), axis=1)
    )
    match = np.argmin(d_pq - log_omega, axis=1)
    matched = p.weights_ @ (d_pq[np.arange(3), match] + log_pi - log_omega[match])
    sigma_points = []
    for mean, cov in zip(p.means_, cov_p, strict=True):
        root = np.linalg.cholesky(cov) * np.sqrt(3)
        sigma_points.append(np.vstack([mean + root.T, mean - root.T]))
    unscented = p.weights_ @ np.array(
        [np.mean(p.score_samples(x) - q.score_samples(x)) for x in sigma_points]
    )
    for method, expected in [
        ("variational", variational),
        ("product", product),
        ("matched", matched),
        ("unscented", unscented),
    ]:
        value = kl_divergence(p, q, method=method)
        assert value == pytest.approx(max(expected, 0.0), rel=1e-9), method


def test_moment_matched_gaussian(blobs):
    p, q = fitted_pair(blobs, "full")

    def moments(model):
        mean = model.weights_ @ model.means_
        centered = model.means_ - mean
        cov = np.einsum("k,kij->ij", model.weights_, model.covariances_)
        return mean, cov + np.einsum("k,ki,kj->ij", model.weights_, centered, centered)

    expected = gaussian_kl_divergence(*moments(p), *moments(q))
    assert kl_divergence(p, q, method="gaussian") == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("method", ["variational", "product", "unscented", "gaussian"])
def test_zero_for_identical_mixtures(blobs, method):
    p, _ = fitted_pair(blobs, "full")
    assert kl_divergence(p, p, method=method) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(p, p, method=method) == pytest.approx(0.0, abs=1e-12)


PAIRS_1D = [
    (
        mixture_1d([0.3, 0.7], [-1.0, 1.0], [0.8, 1.2]),
        mixture_1d([0.5, 0.5], [0.0, 2.0], [1.0, 0.7]),
    ),
    (
        mixture_1d([0.5, 0.5], [-3.0, 3.0], [0.5, 0.5]),
        mixture_1d([0.2, 0.3, 0.5], [-2.0, 0.0, 4.0], [1.0, 2.0, 0.5]),
    ),
    (
        mixture_1d([0.9, 0.1], [0.0, 5.0], [1.0, 0.3]),
        mixture_1d([1.0], [1.0], [2.0]),
    ),
]


@pytest.mark.parametrize("pair", range(len(PAIRS_1D)))
def test_variational_upper_is_an_upper_bound(pair):
    p, q = PAIRS_1D[pair]
    truth = quad_kl(p, q)
    assert kl_divergence(p, q, method="variational_upper") >= truth - 1e-12
    js_truth = quad_js(p, q)
    assert js_truth - 1e-12 <= js_divergence(p, q, method="variational_upper")


@pytest.mark.parametrize("method", [m for m in APPROXIMATIONS if m != "matched"])
def test_js_approximations_are_in_range(blobs, method):
    p, q = fitted_pair(blobs, "diag")
    value = js_divergence(p, q, method=method)
    assert 0.0 <= value <= np.log(2)
    assert js_divergence(p, q, method=method, base=2) == pytest.approx(
        value / np.log(2)
    )


def test_mixed_covariance_types_for_js(blobs):
    p = GaussianMixture(2, covariance_type="spherical", random_state=0).fit(blobs[0])
    q = GaussianMixture(2, covariance_type="tied", random_state=0).fit(blobs[1])
    reference, se = js_divergence(p, q, random_state=0, return_std=True)
    # The variational approximation is not exact, but it is in the right range.
    assert abs(js_divergence(p, q, method="variational") - reference) < 0.2
    assert js_divergence(p, q, method="variational_upper") >= reference - 5 * se


def test_errors(blobs):
    p, q = fitted_pair(blobs, "full")
    with pytest.raises(ValueError, match="'matched' is not available for the Jensen"):
        js_divergence(p, q, method="matched")
    tophat = KernelDensity(kernel="tophat").fit(blobs[0])
    with pytest.raises(ValueError, match="needs q to be a Gaussian mixture"):
        kl_divergence(p, tophat, method="variational")


def test_gaussian_kde_works_with_approximations(blobs):
    kde = KernelDensity(bandwidth=0.5).fit(blobs[0][:50])
    q = make_mixture([1.0], [[0.0, 0.0, 0.0]], np.eye(3)[None])
    for method in APPROXIMATIONS:
        assert np.isfinite(kl_divergence(kde, q, method=method))
