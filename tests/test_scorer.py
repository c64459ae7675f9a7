"""make_divergence_scorer in model selection, with and without pipelines."""

import pickle

import numpy as np
import pytest
from conftest import draw, make_mixture
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    cross_validate,
)
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    QuantileTransformer,
    StandardScaler,
)

from sklearn_divergence import (
    js_distance,
    js_divergence,
    kl_divergence,
    make_divergence_scorer,
)

# A known generating mixture: three spherical components, well separated.
TRUTH = make_mixture(
    [0.5, 0.3, 0.2], [[0, 0], [4, 1], [-2, 5]], [0.5, 1.0, 1.5], "spherical"
)


@pytest.fixture(scope="module")
def data():
    return draw(TRUTH, 1500, seed=0)


@pytest.fixture(scope="module")
def model(data):
    return GaussianMixture(3, random_state=0).fit(data)


@pytest.mark.parametrize("divergence", ["js", "js_distance", "kl", "kl_reverse"])
def test_grid_search_selects_the_generating_configuration(data, divergence):
    grid = {
        "n_components": [1, 2, 3, 4, 5],
        "covariance_type": ["full", "tied", "diag", "spherical"],
    }
    scorer = make_divergence_scorer(TRUTH, divergence=divergence, n_samples=8192)
    search = GridSearchCV(GaussianMixture(random_state=0), grid, scoring=scorer, cv=3)
    search.fit(data)
    assert search.best_params_ == {"covariance_type": "spherical", "n_components": 3}
    assert np.all(search.cv_results_["mean_test_score"] <= 0)


@pytest.mark.parametrize(
    ("divergence", "function", "arguments"),
    [
        ("js", js_divergence, "model, truth"),
        ("js_distance", js_distance, "model, truth"),
        ("kl", kl_divergence, "model, truth"),
    ],
)
def test_score_is_minus_the_divergence(model, data, divergence, function, arguments):
    scorer = make_divergence_scorer(TRUTH, divergence=divergence, base=2)
    expected = function(model, TRUTH, n_samples=20_000, base=2, random_state=0)
    assert scorer(model, data) == -expected
    assert scorer(model, data) < 0


def test_kl_orientation(model, data):
    # A deterministic method separates the two directions exactly.
    forward = make_divergence_scorer(TRUTH, divergence="kl", method="variational")
    reverse = make_divergence_scorer(
        TRUTH, divergence="kl_reverse", method="variational"
    )
    assert forward(model, data) == -kl_divergence(model, TRUTH, method="variational")
    assert reverse(model, data) == -kl_divergence(TRUTH, model, method="variational")
    assert forward(model, data) != reverse(model, data)


def test_same_random_streams_for_every_call(model, data):
    for random_state in (0, np.random.RandomState(1), np.random.default_rng(2)):
        scorer = make_divergence_scorer(TRUTH, random_state=random_state)
        first = scorer(model, data)
        assert scorer(model, data[:10]) == first  # X does not enter the score
        assert pickle.loads(pickle.dumps(scorer))(model, data) == first


def test_pipeline_with_fitted_reference_matches_the_input_space(data):
    # JS is invariant under the invertible affine map, so the pipeline's
    # z-space comparison equals the x-space one up to Monte Carlo error.
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0))
    pipeline.fit(data)
    scorer = make_divergence_scorer(TRUTH, n_samples=2**16)
    in_z_space = -scorer(pipeline, data)
    in_x_space, std_error = js_divergence(
        pipeline, TRUTH, n_samples=2**16, random_state=1, return_std=True
    )
    assert abs(in_z_space - in_x_space) < 1e-3
    assert abs(in_z_space - in_x_space) < 10 * std_error + 1e-5


def test_pipeline_grid_search_with_reference_data(data):
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    grid = {"gaussianmixture__n_components": [1, 3, 5]}
    for reference in (TRUTH, data[:750]):
        scorer = make_divergence_scorer(reference, n_samples=8192)
        search = GridSearchCV(pipeline, grid, scoring=scorer, cv=2).fit(data[750:])
        assert search.best_params_ == {"gaussianmixture__n_components": 3}


def test_dimension_reducing_pipeline_uses_the_projected_reference(data):
    # PCA to one component is affine: the 2-D reference is mapped exactly to
    # its 1-D projection, written out here from PCA's attributes.
    pipeline = make_pipeline(PCA(1), GaussianMixture(3, random_state=0)).fit(data)
    pca = pipeline[0]
    direction = pca.components_[0]
    covariances = TRUTH.covariances_[:, None, None] * (direction @ direction)
    projected = make_mixture(
        TRUTH.weights_,
        (TRUTH.means_ - pca.mean_) @ direction[:, None],
        covariances,
        "full",
    )
    for reference in (TRUTH, data):
        scorer = make_divergence_scorer(reference, n_samples=8192)
        if reference is TRUTH:
            expected = js_divergence(
                pipeline[-1], projected, n_samples=8192, random_state=0
            )
            assert -scorer(pipeline, data) == pytest.approx(expected, rel=1e-9)
        assert 0 < -scorer(pipeline, data) < 0.01


def test_cross_validate_multi_metric_with_two_jobs(data):
    scoring = {
        "js": make_divergence_scorer(TRUTH, n_samples=8192),
        "kl": make_divergence_scorer(TRUTH, divergence="kl", n_samples=8192),
    }
    estimator = GaussianMixture(3, random_state=0)
    serial = cross_validate(estimator, data, scoring=scoring, cv=3)
    parallel = cross_validate(estimator, data, scoring=scoring, cv=3, n_jobs=2)
    for name in ("test_js", "test_kl"):
        np.testing.assert_array_equal(serial[name], parallel[name])
        assert np.all(serial[name] < 0)


def test_randomized_search(data):
    search = RandomizedSearchCV(
        GaussianMixture(random_state=0),
        {"n_components": [1, 2, 3, 4]},
        n_iter=4,
        scoring=make_divergence_scorer(TRUTH, n_samples=8192),
        cv=2,
        random_state=0,
    ).fit(data)
    assert search.best_params_ == {"n_components": 3}


def test_fitted_reference_is_not_mutated(model, data):
    reference = GaussianMixture(3, random_state=1).fit(data)
    before = pickle.dumps(reference)
    make_divergence_scorer(reference)(model, data)
    assert pickle.dumps(reference) == before


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"divergence": "hellinger"}, ValueError, "divergence must be one of"),
        ({"method": "matched"}, ValueError, "not available for the Jensen-Shannon"),
        ({"divergence": "kl", "method": "magic"}, ValueError, "method must be"),
        ({"n_samples": 0}, ValueError, "n_samples must be"),
        ({"base": -2}, ValueError, "base must be None"),
    ],
)
def test_bad_parameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_divergence_scorer(TRUTH, **kwargs)


def test_bad_references(data):
    with pytest.raises(NotFittedError):
        make_divergence_scorer(GaussianMixture())
    bad = data.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input reference contains infinity"):
        make_divergence_scorer(bad)
    with pytest.raises(ValueError, match="reference must be 2-D"):
        make_divergence_scorer(data[:, 0])
    # A method that cannot use the reference fails now, not on every call.
    tophat = KernelDensity(kernel="tophat").fit(data)
    with pytest.raises(ValueError, match="needs reference to be a Gaussian mixture"):
        make_divergence_scorer(tophat, method="variational")
    with pytest.raises(ValueError, match="single Gaussians"):
        make_divergence_scorer(TRUTH, divergence="kl", method="closed")


def test_bad_scored_estimators(data):
    scorer = make_divergence_scorer(TRUTH)
    three_features = GaussianMixture(1).fit(np.hstack([data, data[:, :1]]))
    with pytest.raises(ValueError, match="reference has 2"):
        scorer(three_features, data)
    non_affine = make_pipeline(
        QuantileTransformer(n_quantiles=100), GaussianMixture(3, random_state=0)
    ).fit(data)
    with pytest.raises(ValueError, match="not affine"):
        scorer(non_affine, data)
    # exp overflows at the far probes, which once passed it as affine.
    exponential = make_pipeline(
        FunctionTransformer(np.exp), GaussianMixture(1, random_state=0)
    ).fit(data)
    with pytest.raises(ValueError, match="not affine"):
        scorer(exponential, data)
    # With reference data instead, any transformer works.
    assert make_divergence_scorer(data[:500], n_samples=4096)(non_affine, data) < 0
