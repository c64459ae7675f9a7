"""Pipelines and searches as densities: exact affine maps of Gaussian mixtures."""

import numpy as np
import pytest
from conftest import make_mixture
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    SplineTransformer,
    StandardScaler,
)

from sklearn_divergence import js_divergence, kl_divergence
from sklearn_divergence._affine import affine_map, pull_back, push_forward
from sklearn_divergence._models import as_density

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(0)
    mixing = np.array([[2.0, 0.0, 0.0], [1.5, 0.3, 0.0], [-1.0, 0.5, 4.0]])
    X = rng.standard_normal((600, 3)) @ mixing.T + [10.0, -5.0, 100.0]
    X[:200] += [6.0, 0.0, 0.0]
    return X


def reference_log_pdf(weights, means, covariances, X):
    """log sum_k w_k N(x; m_k, C_k) with scipy, for checking."""
    parts = [
        np.log(w) + multivariate_normal(m, c).logpdf(X)
        for w, m, c in zip(weights, means, covariances, strict=True)
    ]
    return np.logaddexp.reduce(parts, axis=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(
    "transformer",
    [StandardScaler(), MinMaxScaler(), PCA(whiten=True), PCA()],
    ids=["standard", "minmax", "pca_whiten", "pca"],
)
def test_pipeline_density_is_the_input_space_density(
    correlated, covariance_type, transformer
):
    pipeline = make_pipeline(
        transformer, GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    ).fit(correlated)
    density = as_density(pipeline, "p", needs_sampling=True)
    # Change of variables: log p_x(x) = log p_z(A x + b) + log |det A|, with A
    # written out from the fitted transformer's own attributes.
    fitted = pipeline[0]
    if isinstance(fitted, StandardScaler):
        matrix = np.diag(1.0 / fitted.scale_)
    elif isinstance(fitted, MinMaxScaler):
        matrix = np.diag(fitted.scale_)
    else:
        scale = np.sqrt(fitted.explained_variance_) if fitted.whiten else 1.0
        matrix = fitted.components_ / np.atleast_1d(scale)[:, None]
    log_jacobian = np.linalg.slogdet(matrix)[1]
    X = correlated[::37]
    expected = pipeline.score_samples(X) + log_jacobian
    np.testing.assert_allclose(density.log_density(X), expected, rtol=1e-9)
    assert density.n_features == 3


def test_pulled_back_mixture_parameters(correlated):
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    pipeline.fit(correlated)
    scaler, mixture = pipeline
    density = as_density(pipeline, "p", needs_sampling=True)
    means = mixture.means_ * scaler.scale_ + scaler.mean_
    covariances = mixture.covariances_ * np.outer(scaler.scale_, scaler.scale_)
    X = correlated[::50]
    expected = reference_log_pdf(mixture.weights_, means, covariances, X)
    np.testing.assert_allclose(density.log_density(X), expected, rtol=1e-10)
    np.testing.assert_allclose(density.means, means, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_push_forward_then_pull_back_is_the_identity(covariance_type):
    rng = np.random.default_rng(1)
    covariances = {
        "full": np.array([np.eye(2) * 2, [[1.0, 0.6], [0.6, 2.0]]]),
        "tied": np.array([[1.0, -0.3], [-0.3, 0.5]]),
        "diag": np.array([[1.0, 4.0], [0.25, 1.0]]),
        "spherical": np.array([0.5, 3.0]),
    }[covariance_type]
    model = make_mixture([0.3, 0.7], [[0, 1], [3, -2]], covariances, covariance_type)
    mixture = as_density(model, "p", needs_sampling=True)
    transformer = FunctionTransformer(lambda X: X @ [[2.0, 1.0], [-1.0, 3.0]] + 7.0)
    affine = affine_map(transformer.fit(np.zeros((1, 2))), "p")
    np.testing.assert_allclose(affine.matrix, [[2.0, -1.0], [1.0, 3.0]])
    there_and_back = pull_back(push_forward(mixture, affine, "p"), affine, "p")
    X = rng.normal(0, 3, (50, 2))
    np.testing.assert_allclose(
        there_and_back.log_density(X), mixture.log_density(X), rtol=1e-12
    )
    # And the pushed-forward density is the change of variables.
    pushed = push_forward(mixture, affine, "p")
    np.testing.assert_allclose(
        pushed.log_density(affine.apply(X)),
        mixture.log_density(X) - affine.log_abs_det,
        rtol=1e-12,
    )


def test_push_forward_to_fewer_dimensions_is_the_marginal():
    model = make_mixture(
        [0.4, 0.6], [[0, 1, 2], [3, -2, 0]], [np.eye(3), np.diag([1.0, 2.0, 3.0])]
    )
    mixture = as_density(model, "p", needs_sampling=True)
    first_two = FunctionTransformer(lambda X: X[:, :2]).fit(np.zeros((1, 3)))
    marginal = push_forward(mixture, affine_map(first_two, "p"), "p")
    X = np.random.default_rng(2).normal(size=(20, 2))
    expected = reference_log_pdf(
        model.weights_, model.means_[:, :2], model.covariances_[:, :2, :2], X
    )
    np.testing.assert_allclose(marginal.log_density(X), expected, rtol=1e-12)


def test_divergences_between_pipelines_are_invariant(correlated):
    # The same pipeline fitted twice gives two x-space mixtures; a common
    # invertible affine map leaves KL and JS unchanged.
    p = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    q = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    p.fit(correlated[:300])
    q.fit(correlated[300:])
    # Both x-space densities seen through one more affine map.
    shift = FunctionTransformer(lambda X: 3.0 * X - 1.0).fit(correlated)
    p_w = make_pipeline(shift, *[step for _, step in p.steps])
    q_w = make_pipeline(shift, *[step for _, step in q.steps])
    for method in ("variational", "gaussian", "unscented"):
        in_x = kl_divergence(p, q, method=method)
        assert in_x > 0
        assert kl_divergence(p_w, q_w, method=method) == pytest.approx(in_x, rel=1e-9)


def test_generic_final_step_in_a_pipeline(correlated):
    pipeline = make_pipeline(
        StandardScaler(), KernelDensity(kernel="tophat", bandwidth=1.0)
    ).fit(correlated)
    density = as_density(pipeline, "p", needs_sampling=True)
    scaler = pipeline[0]
    X = correlated[:5]
    expected = pipeline.score_samples(X) - np.log(scaler.scale_).sum()
    np.testing.assert_allclose(density.log_density(X), expected, rtol=1e-12)
    drawn = density.sample(20_000, np.random.SeedSequence(0))
    np.testing.assert_allclose(drawn.mean(axis=0), correlated.mean(axis=0), atol=0.2)
    # Monte Carlo through the generic path agrees with itself: KL(p || p) = 0.
    assert kl_divergence(pipeline, pipeline, n_samples=4096, random_state=0) == 0.0


def test_search_stands_for_its_best_estimator(correlated):
    search = GridSearchCV(
        GaussianMixture(random_state=0), {"n_components": [1, 2]}, cv=2
    ).fit(correlated)
    q = GaussianMixture(3, random_state=0).fit(correlated[::2])
    assert js_divergence(search, q, random_state=0) == js_divergence(
        search.best_estimator_, q, random_state=0
    )


@pytest.mark.parametrize(
    ("transformer", "message"),
    [
        (FunctionTransformer(np.tanh), "not affine"),
        (SplineTransformer(), "not affine"),
        (MinMaxScaler(clip=True), "not affine"),
        (PCA(2), "map 3 features to 2"),
        (FunctionTransformer(lambda X: X * [1.0, 0.0, 1.0]), "not invertible"),
    ],
)
def test_pipelines_without_an_input_space_density(correlated, transformer, message):
    pipeline = make_pipeline(transformer, GaussianMixture(1, random_state=0))
    pipeline.fit(correlated)
    with pytest.raises(ValueError, match=message):
        kl_divergence(pipeline, pipeline)


def test_pipeline_ending_in_passthrough(correlated):
    pipeline = make_pipeline(StandardScaler(), "passthrough").fit(correlated)
    with pytest.raises(ValueError, match="does not end in a density estimator"):
        as_density(pipeline, "p", needs_sampling=True)


def test_nested_pipelines_compose_their_maps(correlated):
    def scaled(factor):
        return FunctionTransformer(lambda X: factor * X)

    tophat = KernelDensity(kernel="tophat", bandwidth=1.0)
    nested = make_pipeline(scaled(2.0), make_pipeline(scaled(3.0), tophat))
    flat = make_pipeline(scaled(6.0), tophat)
    nested.fit(correlated)
    flat.fit(correlated)
    X = correlated[:7] + 0.01
    np.testing.assert_allclose(
        as_density(nested, "p", needs_sampling=True).log_density(X),
        as_density(flat, "p", needs_sampling=True).log_density(X),
        rtol=1e-12,
    )
    mixture = GaussianMixture(2, random_state=0)
    nested = make_pipeline(scaled(2.0), make_pipeline(scaled(3.0), mixture))
    flat = make_pipeline(scaled(6.0), mixture)
    nested.fit(correlated)
    np.testing.assert_allclose(
        as_density(nested, "p", needs_sampling=True).log_density(X),
        as_density(flat.fit(correlated), "p", needs_sampling=True).log_density(X),
        rtol=1e-12,
    )


def test_badly_scaled_features_are_invertible():
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, [1e5, 1e-4], (400, 2))
    X[:, 1] += 1e5  # a tiny spread on a large offset
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    pipeline.fit(X)
    assert kl_divergence(pipeline, pipeline, method="variational") == 0.0
    assert js_divergence(pipeline, pipeline, n_samples=4096, random_state=0) < 1e-12


def test_leading_passthrough_step(correlated):
    with_passthrough = make_pipeline(
        "passthrough", StandardScaler(), GaussianMixture(2, random_state=0)
    ).fit(correlated)
    without = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    without.fit(correlated)
    X = correlated[:5]
    np.testing.assert_allclose(
        as_density(with_passthrough, "p", needs_sampling=True).log_density(X),
        as_density(without, "p", needs_sampling=True).log_density(X),
        rtol=1e-12,
    )


def test_search_fitted_without_refit(correlated):
    search = GridSearchCV(
        GaussianMixture(random_state=0), {"n_components": [1, 2]}, cv=2, refit=False
    ).fit(correlated)
    with pytest.raises(ValueError, match="refit=False"):
        kl_divergence(search, search)


def test_overflowing_transformer_is_not_affine():
    # exp overflows at the far probes: the infinite images once made the
    # tolerance of the affinity check infinite, and exp passed as affine.
    X = np.random.default_rng(0).standard_normal((300, 2))
    pipeline = make_pipeline(FunctionTransformer(np.exp), GaussianMixture(1))
    pipeline.fit(X)
    with pytest.raises(ValueError, match="transformers of p are not affine"):
        kl_divergence(pipeline, GaussianMixture(1).fit(X))
