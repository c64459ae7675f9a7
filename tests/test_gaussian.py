"""The mixture machinery against scikit-learn and textbook formulas."""

import numpy as np
import pytest
from conftest import make_mixture, precision_cholesky
from scipy import stats
from scipy.special import logsumexp
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.neighbors import KernelDensity

from sklearn_divergence._gaussian import (
    COVARIANCE_TYPES,
    GaussianMixtureParams,
    StandardCoordinates,
    logsumexp_columns,
    pairwise_kl,
    radial_draws,
)
from sklearn_divergence._models import as_density


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [1, 4])
def test_log_density_matches_score_samples(blobs, covariance_type, n_components):
    model = GaussianMixture(
        n_components, covariance_type=covariance_type, random_state=0
    ).fit(blobs[0])
    density = as_density(model, "p", needs_sampling=True)
    # Far points too: 30 units out, where densities underflow in linear space.
    X = np.vstack([blobs[1], np.random.default_rng(0).normal(0, 30, (200, 3))])
    np.testing.assert_allclose(
        density.log_density(X), model.score_samples(X), rtol=1e-12, atol=1e-10
    )


def test_log_density_over_many_blocks(blobs):
    model = GaussianMixture(6, random_state=0).fit(blobs[0])
    density = as_density(model, "p", needs_sampling=True)
    X = np.random.default_rng(1).normal(1, 2, (3 * density.block_rows(10**9) + 7, 3))
    np.testing.assert_allclose(
        density.log_density(X), model.score_samples(X), rtol=1e-12, atol=1e-10
    )


def test_gather_returns_weighted_component_log_probs(blobs):
    model = GaussianMixture(3, random_state=0).fit(blobs[0])
    density = as_density(model, "p", needs_sampling=True)
    X = blobs[1][:50]
    columns = np.tile([[2], [0]], (1, 50))
    _, gathered = density.log_density(X, gather=columns)
    expected = model._estimate_weighted_log_prob(X)
    np.testing.assert_allclose(gathered[0], expected[:, 2], rtol=1e-12)
    np.testing.assert_allclose(gathered[1], expected[:, 0], rtol=1e-12)


def test_bayesian_mixture_uses_plug_in_density(blobs):
    bayes = BayesianGaussianMixture(n_components=3, random_state=0).fit(blobs[0])
    density = as_density(bayes, "p", needs_sampling=True)
    plug_in = GaussianMixture(3)
    plug_in.weights_ = bayes.weights_
    plug_in.means_ = bayes.means_
    plug_in.covariances_ = bayes.covariances_
    plug_in.precisions_cholesky_ = bayes.precisions_cholesky_
    X = blobs[1]
    np.testing.assert_allclose(
        density.log_density(X), plug_in.score_samples(X), rtol=1e-12, atol=1e-10
    )
    # score_samples is not that density: the snippet's bias is real.
    assert np.abs(bayes.score_samples(X) - density.log_density(X)).max() > 1e-3


def _kde_reference(data, weights, bandwidth, X):
    """Exact log-density of a Gaussian KDE: a logsumexp of normal log-pdfs."""
    squared = ((X[:, None, :] - data[None, :, :]) ** 2).sum(axis=2)
    d = data.shape[1]
    log_kernel = -0.5 * squared / bandwidth**2 - d * np.log(
        bandwidth * np.sqrt(2 * np.pi)
    )
    return logsumexp(log_kernel + np.log(weights / weights.sum()), axis=1)


@pytest.mark.parametrize("bandwidth", [0.3, "scott", "silverman"])
def test_kernel_density_is_a_spherical_mixture(blobs, bandwidth):
    data = blobs[0][:100]
    kde = KernelDensity(bandwidth=bandwidth).fit(data)
    density = as_density(kde, "p", needs_sampling=True)
    assert density.n_components == 100
    X = blobs[1][:80]
    exact = _kde_reference(data, np.ones(100), kde.bandwidth_, X)
    np.testing.assert_allclose(density.log_density(X), exact, rtol=1e-12)
    # KernelDensity's tree summation itself is only accurate to about 1e-7.
    np.testing.assert_allclose(density.log_density(X), kde.score_samples(X), rtol=1e-6)


def test_kernel_density_sample_weight(blobs):
    data = blobs[0][:60]
    weights = np.random.default_rng(0).uniform(0.1, 2, 60)
    kde = KernelDensity(bandwidth=0.5).fit(data, sample_weight=weights)
    density = as_density(kde, "p", needs_sampling=True)
    X = blobs[1][:40]
    exact = _kde_reference(data, weights, 0.5, X)
    np.testing.assert_allclose(density.log_density(X), exact, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sampling_transform_has_component_moments(blobs, covariance_type):
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(
        blobs[0]
    )
    density = as_density(model, "p", needs_sampling=True)
    n = 200_000
    Z = np.random.default_rng(0).standard_normal((2 * n, 3))
    X = density.transform_standard_normal(Z, np.array([n, n]))
    stored = model.covariances_
    if covariance_type == "full":
        covariances = stored
    elif covariance_type == "tied":
        covariances = np.stack([stored] * 2)
    elif covariance_type == "diag":
        covariances = np.stack([np.diag(c) for c in stored])
    else:
        covariances = np.stack([np.eye(3) * c for c in stored])
    for k in range(2):
        rows = X[k * n : (k + 1) * n]
        scale = np.sqrt(np.diag(covariances[k]))
        np.testing.assert_allclose(
            rows.mean(axis=0), model.means_[k], atol=5 * scale.max() / np.sqrt(n)
        )
        np.testing.assert_allclose(np.cov(rows.T), covariances[k], atol=0.02)


def test_pairwise_kl_matches_textbook_formula(blobs):
    p = GaussianMixture(3, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, covariance_type="diag", random_state=0).fit(blobs[1])
    matrix = pairwise_kl(
        as_density(p, "p", needs_sampling=True),
        as_density(q, "q", needs_sampling=True),
    )
    for a in range(3):
        for b in range(2):
            cov_q = np.diag(q.covariances_[b])
            precision_q = np.linalg.inv(cov_q)
            diff = q.means_[b] - p.means_[a]
            expected = 0.5 * (
                np.trace(precision_q @ p.covariances_[a])
                + diff @ precision_q @ diff
                - 3
                + np.linalg.slogdet(cov_q)[1]
                - np.linalg.slogdet(p.covariances_[a])[1]
            )
            assert matrix[a, b] == pytest.approx(expected, rel=1e-11, abs=1e-12)


def _full_mixture(d, condition, seed):
    """Full covariances with the given condition number, rotated at random."""
    rng = np.random.default_rng(seed)
    covariances = []
    for _ in range(3):
        rotation = np.linalg.qr(rng.normal(size=(d, d)))[0]
        scales = np.logspace(-np.log10(condition), 0, d)
        covariances.append(rotation @ np.diag(scales) @ rotation.T)
    return GaussianMixtureParams(
        np.array([0.2, 0.3, 0.5]),
        rng.normal(size=(3, d)),
        "full",
        precision_cholesky(np.stack(covariances), "full"),
    )


def _exact_log_prob(mixture, X):
    """log w_k N_k(x) by subtraction, written out: |U^T (x - mu)|^2."""
    d = mixture.n_features
    out = []
    for w, mean, factor in zip(
        mixture.weights, mixture.means, mixture.precisions_cholesky, strict=True
    ):
        projected = (X - mean) @ factor
        log_det = np.log(np.diag(factor)).sum()
        out.append(
            np.log(w)
            - 0.5 * (projected**2).sum(axis=1)
            + log_det
            - 0.5 * d * np.log(2 * np.pi)
        )
    return np.array(out)


@pytest.mark.parametrize("d", [2, 10, 20])
def test_full_expansion_is_accepted_and_accurate(d):
    mixture = _full_mixture(d, 10.0, seed=d)
    X = np.random.default_rng(1).normal(size=(500, d))
    features = mixture._features(X)
    assert mixture._expansion_is_accurate(features, slice(None))
    exact = _exact_log_prob(mixture, X)
    expanded = mixture._coefficients_with_constants[True] @ features
    np.testing.assert_allclose(expanded, exact, rtol=0, atol=1e-9)
    # Whichever form log_prob picks (by cost: 3 components take the
    # expansion in d = 2 only).
    np.testing.assert_allclose(mixture.log_prob(X), exact, rtol=0, atol=1e-9)


def test_full_expansion_falls_back_to_subtraction_when_it_would_round():
    # Condition 1e12: the expanded quadratic form would lose about 1e-4.
    mixture = _full_mixture(5, 1e12, seed=0)
    X = mixture.means[2] + np.random.default_rng(1).normal(size=(200, 5)) * 1e-3
    features = mixture._features(X)
    assert not mixture._expansion_is_accurate(features, slice(None))
    exact = _exact_log_prob(mixture, X)
    expanded = mixture._coefficients_with_constants[True] @ features
    assert np.abs(expanded - exact).max() > 1e-6
    # Values near -1e6 whose gradient is 1e9: 1e-10 is their own conditioning.
    np.testing.assert_allclose(mixture.log_prob(X), exact, rtol=1e-10, atol=1e-9)


def test_logsumexp_columns_without_shift_matches_scipy_and_falls_back():
    rng = np.random.default_rng(0)
    a = rng.normal(-30.0, 20.0, (7, 12))
    # Columns that the unshifted sum cannot take: every term underflows, one
    # overflows, all are -inf, and a mix of -inf and finite terms.
    a[:, 0] = -800.0 + rng.normal(size=7)
    a[:, 1] = 750.0 + rng.normal(size=7)
    a[:, 2] = -np.inf
    a[:3, 3] = -np.inf
    expected = logsumexp(a, axis=0)
    original = a.copy()
    out = logsumexp_columns(a)
    np.testing.assert_array_equal(a, original)  # the input is left as it was
    assert np.isfinite(out[[0, 1, 3]]).all() and out[2] == -np.inf
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-13)


def test_kernel_density_over_blocks_of_components_is_exact(blobs):
    # 5000 components: the columns split into cache-sized blocks, which share
    # their points' features and whose sums add up in log space.
    data, bandwidth = np.repeat(blobs[0], 10, axis=0), 0.5
    density = as_density(
        KernelDensity(bandwidth=bandwidth).fit(data), "kde", needs_sampling=True
    )
    X = blobs[1][:100]
    _, columns = density._log_density_blocks(X.shape[0])
    assert columns < density.n_components
    # Written out by subtraction (score_samples' tree is 1e-11 off here).
    squared = ((X[:, None, :] - data[None]) ** 2).sum(axis=-1)
    expected = (
        logsumexp(-0.5 * squared / bandwidth**2, axis=1)
        - np.log(data.shape[0])
        - 1.5 * np.log(2 * np.pi * bandwidth**2)
    )
    np.testing.assert_allclose(density.log_density(X), expected, rtol=0, atol=1e-13)


def _standard_log_probs(coordinates, Z, strata):
    """The (K, n) log-probabilities of :meth:`StandardCoordinates.blocks`."""
    out = np.full((coordinates.constants.shape[1], Z.shape[0]), np.nan)
    for stratum, rows, log_probs in coordinates.blocks(Z, strata):
        assert (strata[rows] == stratum).all()
        out[:, rows] = log_probs
    return out


@pytest.mark.parametrize(
    "types, n_components, expands",
    [
        (("full", "full"), 4, True),  # 19 features against 8 x 3 projections
        (("full", "tied"), 1, False),  # 10 features against 2 x 3 projections
        (("diag", "spherical"), 3, True),  # [z^2; z; 1] only
        (("tied", "diag"), 2, True),
    ],
)
def test_standard_coordinates_match_weighted_log_probs(
    blobs, types, n_components, expands
):
    # At x = mu_a + L_a z, the log-probabilities written in z are those of
    # scikit-learn at x, for every component of both mixtures, and in
    # several blocks per stratum.
    models = [
        GaussianMixture(n_components, covariance_type=kind, random_state=i).fit(
            blobs[i]
        )
        for i, kind in enumerate(types)
    ]
    p, q = (as_density(model, "p", needs_sampling=True) for model in models)
    coordinates = StandardCoordinates.of(p, (p, q))
    assert (coordinates.expansion is not None) == expands
    counts = np.full(n_components, 9000)
    strata = np.repeat(np.arange(n_components), counts)
    Z = np.random.default_rng(0).normal(size=(strata.size, 3))
    X = p.transform_standard_normal(Z, counts)
    expected = np.hstack([m._estimate_weighted_log_prob(X) for m in models]).T
    np.testing.assert_allclose(
        _standard_log_probs(coordinates, Z, strata), expected, rtol=1e-11
    )


@pytest.mark.parametrize("other_type", ["tied", "full"])
def test_conditional_coordinates_give_the_conditional_mean_of_the_kl_integrand(
    other_type,
):
    # Tied P (3 components) against a tied Q (2) or a single full Q, d = 7:
    # log p - log q depends on the part of z orthogonal to y = W_a z only
    # through a quadratic, so its mean over the 2 (d - m) sigma points
    # +-sqrt(d - m) v_i (exact for quadratics) is the conditional integrand.
    rng = np.random.default_rng(3)
    d = 7
    covariance = np.cov(rng.normal(size=(d, 3 * d)))
    p_model = make_mixture(
        [0.2, 0.5, 0.3], rng.normal(0, 2, (3, d)), covariance, "tied"
    )
    if other_type == "tied":
        q_model = make_mixture(
            [0.6, 0.4],
            rng.normal(0, 2, (2, d)),
            np.cov(rng.normal(size=(d, 20))),
            "tied",
        )
    else:
        q_model = make_mixture(
            [1.0], rng.normal(0, 2, (1, d)), np.cov(rng.normal(size=(d, 20)))[None]
        )
    p = as_density(p_model, "p", needs_sampling=True)
    q = as_density(q_model, "q", needs_sampling=False)
    coordinates = StandardCoordinates.of(p, (p, q), conditional=True)
    m = coordinates.n_dimensions
    # What tells the components of each mixture apart: 2 + K_q - 1 directions.
    assert m == 2 + q.n_components - 1 < d
    assert StandardCoordinates.of(p, (p, q)).n_dimensions == d
    strata = np.repeat(np.arange(3), 4)
    Y = rng.normal(size=(strata.size, m))
    log_probs = _standard_log_probs(coordinates, Y, strata)
    conditional = logsumexp(log_probs[:3], axis=0) - logsumexp(log_probs[3:], axis=0)
    factors = p.covariance_factors(np.arange(3))
    for row, (stratum, y) in enumerate(zip(strata, Y, strict=True)):
        basis = coordinates.basis[stratum]
        assert np.allclose(basis @ basis.T, np.eye(m), atol=1e-14)
        orthogonal = np.linalg.svd(basis, full_matrices=True)[2][m:]
        sigma = np.sqrt(d - m) * np.vstack([orthogonal, -orthogonal])
        X = p.means[stratum] + (basis.T @ y + sigma) @ factors[stratum].T
        integrand = p_model.score_samples(X) - q_model.score_samples(X)
        assert integrand.mean() == pytest.approx(conditional[row], abs=1e-9)
        # Not a constant: the sigma points do move the integrand.
        assert np.ptp(integrand) > 1e-3


def test_standard_coordinates_subtract_where_the_expansion_would_round():
    # A component 80 units from one of sd 1e-3: in the broad component's
    # coordinates the expanded constants reach 3e9, whose rounding would
    # exceed the tolerance, so the blocks take the subtraction form.
    model = GaussianMixture(2, covariance_type="full")
    model.weights_ = np.array([0.5, 0.5])
    model.means_ = np.array([[0.0, 0.0, 0.0], [80.0, 0.0, 0.0]])
    model.covariances_ = np.array([np.eye(3), np.diag([1.0, 2.0, 0.5]) * 1e-6])
    model.precisions_cholesky_ = precision_cholesky(model.covariances_, "full")
    p = as_density(model, "p", needs_sampling=True)
    coordinates = StandardCoordinates.of(p, (p, p))
    Z = np.random.default_rng(1).normal(size=(2000, 3))
    strata = np.repeat([0, 1], 1000)
    assert coordinates.expansion is not None and not coordinates._expands(Z)
    X = p.transform_standard_normal(Z, [1000, 1000])
    own = model._estimate_weighted_log_prob(X).T
    np.testing.assert_allclose(
        _standard_log_probs(coordinates, Z, strata),
        np.vstack([own, own]),
        rtol=1e-13,
        atol=1e-10,
    )


def test_standard_coordinates_are_skipped_for_kernel_densities(blobs):
    # Sampled: 500 x 1000 (3, 3) projections exceed 2**22 floats.
    kde = KernelDensity(bandwidth=0.5).fit(blobs[0])
    p = as_density(kde, "kde", needs_sampling=True)
    assert StandardCoordinates.of(p, (p, p)) is None
    # Not sampled, d = 1: a block of 64 draws holds their K projections and
    # K results, 128 K floats, over 2**22 from K = 2**15 + 1 components on,
    # however small the projections.
    single = as_density(
        GaussianMixture(1).fit(blobs[0][:, :1]), "p", needs_sampling=True
    )
    data = np.random.default_rng(0).normal(size=(2**15, 1))
    for n_points, skipped in ((2**15 - 1, False), (2**15, True)):
        other = as_density(
            KernelDensity(bandwidth=0.5).fit(data[:n_points]),
            "kde",
            needs_sampling=False,
        )
        coordinates = StandardCoordinates.of(single, (single, other))
        assert (coordinates is None) == skipped


@pytest.mark.parametrize("with_kde", [False, True])
def test_radial_coordinates_give_every_component_exactly(with_kde):
    # Spherical P (3 components) against a spherical Q (2) or a KDE (4
    # kernels), d = 9: each component's log-probability at z equals the
    # radial coordinates' at (W_a z, |z - W_a^T W_a z|), m = K - 1 directions.
    rng = np.random.default_rng(5)
    d = 9
    p_model = make_mixture(
        [0.2, 0.5, 0.3], rng.normal(0, 2, (3, d)), [0.5, 1.0, 2.0], "spherical"
    )
    if with_kde:
        q_model = KernelDensity(bandwidth=0.7).fit(rng.normal(0, 2, (4, d)))
    else:
        q_model = make_mixture(
            [0.6, 0.4], rng.normal(0, 2, (2, d)), [1.5, 0.8], "spherical"
        )
    p = as_density(p_model, "p", needs_sampling=True)
    q = as_density(q_model, "q", needs_sampling=False)
    radial = StandardCoordinates.of(p, (p, q))
    k = p.n_components + q.n_components
    m = k - 1
    assert radial.n_dimensions == m + 1 and radial.radial_degrees == d - m
    assert radial.n_uniforms == m + (d - m + 1) // 2
    # The reference: the same components in all d standard coordinates,
    # from the plain construction of a non-spherical twin (full covariances).
    twin = make_mixture(
        p_model.weights_,
        p_model.means_,
        np.array([c * np.eye(d) for c in p_model.covariances_]),
    )
    twin_density = as_density(twin, "p", needs_sampling=True)
    reference = StandardCoordinates.of(twin_density, (twin_density, q))
    assert reference.radial_degrees == 0 and reference.n_dimensions == d
    strata = np.repeat(np.arange(3), 5)
    Z = rng.normal(size=(strata.size, d)) * 1.5
    basis = radial.basis[strata, :m]
    y = np.einsum("nkd,nd->nk", basis, Z)
    rho = np.linalg.norm(Z - np.einsum("nkd,nk->nd", basis, y), axis=1)
    expected = _standard_log_probs(reference, Z, strata)
    got = _standard_log_probs(radial, np.column_stack([y, rho]), strata)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-10)
    assert np.ptp(expected) > 1.0


def test_radial_coordinates_only_where_they_save_a_dimension():
    rng = np.random.default_rng(6)
    d = 3
    # 3 + 2 components: 4 directions span all of d = 3.
    p = as_density(
        make_mixture([0.2, 0.5, 0.3], rng.normal(size=(3, d)), [1, 2, 3], "spherical"),
        "p",
        needs_sampling=True,
    )
    q = as_density(
        make_mixture([0.5, 0.5], rng.normal(size=(2, d)), [1, 2], "spherical"),
        "q",
        needs_sampling=False,
    )
    assert StandardCoordinates.of(p, (p, q)).radial_degrees == 0
    diag = as_density(
        make_mixture([1.0], np.zeros((1, 9)), np.ones((1, 9)), "diag"),
        "q",
        needs_sampling=False,
    )
    wide = as_density(
        make_mixture([1.0], np.ones((1, 9)), [1.0], "spherical"),
        "p",
        needs_sampling=True,
    )
    # A diagonal component is not a function of |z| alone.
    assert StandardCoordinates.of(wide, (wide, diag)).radial_degrees == 0


@pytest.mark.parametrize("degrees", [2, 7])
def test_radial_draws_are_normal_and_chi(degrees):
    # From uniforms: m standard normals and rho with rho^2 chi-square.
    m = 2
    uniforms = np.random.default_rng(degrees).random((200_000, m + (degrees + 1) // 2))
    draws = radial_draws(uniforms, m, degrees)
    assert draws.shape == (200_000, m + 1)
    for column in range(m):
        assert stats.kstest(draws[:, column], "norm").pvalue > 1e-3
    assert stats.kstest(draws[:, m] ** 2, stats.chi2(degrees).cdf).pvalue > 1e-3
    # Independent of y: their correlation is that of noise.
    assert abs(np.corrcoef(draws[:, 0], draws[:, m])[0, 1]) < 0.01
