"""Bad input fails fast, with a message naming the argument."""

import copy

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity, LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from sklearn_divergence import (
    GMMDivergence,
    LowPrecisionWarning,
    divergence_test,
    js_distance,
    js_divergence,
    kl_bounds,
    kl_divergence,
    make_divergence_scorer,
)

FUNCTIONS = [kl_divergence, js_divergence, js_distance]


@pytest.fixture(scope="module")
def models(blobs):
    p = GaussianMixture(2, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, random_state=0).fit(blobs[1])
    return p, q


@pytest.mark.parametrize("function", FUNCTIONS)
def test_feature_mismatch_names_both_numbers(function, models):
    p, _ = models
    q = GaussianMixture(1).fit(np.random.default_rng(0).normal(size=(50, 5)))
    with pytest.raises(ValueError, match="p has 3 and q has 5"):
        function(p, q)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_unfitted_estimator(function, models):
    with pytest.raises(NotFittedError):
        function(GaussianMixture(), models[1])
    with pytest.raises(NotFittedError):
        function(models[0], KernelDensity())


def test_missing_methods_raise_type_error(models):
    p, q = models
    with pytest.raises(TypeError, match=r"p must be .* no sample or score_samples"):
        kl_divergence([1, 2, 3], q)
    with pytest.raises(TypeError, match="LinearRegression has no score_samples"):
        kl_divergence(p, LinearRegression())
    with pytest.raises(TypeError, match=r"q must be .* no sample"):
        js_divergence(p, object())


@pytest.mark.parametrize("n_samples", [1, 0, -5, 2.5, "10", None, True])
def test_bad_n_samples(n_samples, models):
    with pytest.raises(ValueError, match=r"n_samples must be an integer in \[2, "):
        kl_divergence(*models, n_samples=n_samples)


@pytest.mark.parametrize("base", [0, -2, 0.5, 1, 1.0, np.inf, np.nan, "2", True])
def test_bad_base(base, models):
    with pytest.raises(ValueError, match="base must be"):
        js_divergence(*models, base=base)


def test_unknown_method_lists_valid_ones(models):
    with pytest.raises(
        ValueError, match="'auto', 'closed', 'mc', 'stratified', 'rqmc'"
    ):
        kl_divergence(*models, method="exact")


def test_method_needs_a_mixture(blobs, models):
    tophat = KernelDensity(kernel="tophat").fit(blobs[0])
    with pytest.raises(ValueError, match="method='rqmc' needs p to be a Gaussian"):
        kl_divergence(tophat, models[1], method="rqmc")


def test_too_few_samples_for_method(models):
    with pytest.raises(ValueError, match="needs n_samples >= 16"):
        kl_divergence(*models, method="rqmc", n_samples=12)
    # 'auto' falls back instead of failing, and says the estimate is imprecise.
    with pytest.warns(LowPrecisionWarning, match="increase n_samples"):
        value = kl_divergence(*models, n_samples=20, random_state=0)
    assert np.isfinite(value)


@pytest.mark.parametrize("attribute", ["weights_", "means_", "precisions_cholesky_"])
def test_non_finite_parameters(attribute, models):
    p = GaussianMixture(2, random_state=0)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(p, name, np.array(getattr(models[0], name), copy=True))
    p.converged_ = True
    getattr(p, attribute).flat[0] = np.nan
    with pytest.raises(ValueError, match=f"p has non-finite values in {attribute}"):
        kl_divergence(p, models[1])


def test_weights_must_sum_to_one(models):
    p = GaussianMixture(2, random_state=0)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(p, name, np.array(getattr(models[0], name), copy=True))
    p.weights_ = p.weights_ * 2
    with pytest.raises(ValueError, match="weights_ must be non-negative and sum"):
        kl_divergence(models[1], p)


def test_kernel_that_cannot_be_sampled(blobs, models):
    kde = KernelDensity(kernel="epanechnikov").fit(blobs[0])
    with pytest.raises(ValueError, match="kernel='epanechnikov', which cannot be"):
        kl_divergence(kde, models[1])


@pytest.mark.parametrize("random_state", [-1, 2**40, "seed", 1.5])
def test_bad_random_state(random_state, models):
    with pytest.raises(ValueError, match="random_state must be None, an int"):
        kl_divergence(*models, random_state=random_state)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("flag", ["False", 2, 0, None, 1.0])
def test_return_std_must_be_a_bool(function, models, flag):
    # A truthy string or number returned a tuple where a float was expected.
    with pytest.raises(ValueError, match="return_std must be True or False, got"):
        function(*models, n_samples=256, return_std=flag)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_numpy_bools_are_flags(function, models):
    options = dict(n_samples=256, random_state=0)
    value, std_error = function(*models, return_std=np.True_, **options)
    assert function(*models, return_std=np.False_, **options) == value
    assert std_error > 0


def _corrupted(model, attribute, change):
    corrupted = copy.deepcopy(model)
    setattr(corrupted, attribute, change(np.array(getattr(model, attribute))))
    return corrupted


def _set_entry(index, value):
    def change(array):
        array[index] = value
        return array

    return change


@pytest.mark.parametrize(
    ("attribute", "change", "message"),
    [
        (
            "precisions_cholesky_",
            lambda u: np.swapaxes(u, 1, 2),
            "p.precisions_cholesky_ must be upper triangular",
        ),
        ("covariances_", lambda c: -c, "p.covariances_ is not positive definite"),
        ("covariances_", lambda c: 2 * c, "p.covariances_ is not the inverse"),
        ("weights_", lambda w: np.array([0.2, 0.3, 0.5]), r"p.weights_ has shape"),
        ("means_", lambda m: m[:1], r"p.weights_ has shape \(2,\) and p.means_"),
        (
            "means_",
            lambda m: m[:, :2],
            r"p.precisions_cholesky_ has shape \(2, 3, 3\)",
        ),
        ("covariance_type", lambda t: "banana", "p.covariance_type must be one of"),
        (
            "precisions_cholesky_",
            _set_entry((0, 1, 1), 0.0),
            "p.precisions_cholesky_ has a zero on its diagonal",
        ),
    ],
)
def test_inconsistent_mixture(models, attribute, change, message):
    # Each of these was used without a word, giving a wrong value or NaN.
    p, q = models
    corrupted = _corrupted(p, attribute, change)
    for function in (kl_divergence, kl_bounds):
        with pytest.raises(ValueError, match=message):
            function(corrupted, q)


def test_negated_cholesky_diagonal_is_the_same_mixture(models):
    # U D with D = diag(+-1) is a valid factor of the same precision; it gave
    # NaN in kl_bounds and the variational approximation.
    p, q = models

    def negate_second_column(u):
        u[0, :, 1] *= -1
        return u

    flipped = _corrupted(p, "precisions_cholesky_", negate_second_column)
    assert kl_bounds(flipped, q) == kl_bounds(p, q)
    for method in ("variational", "rqmc"):
        options = dict(method=method, n_samples=1024, random_state=0)
        assert kl_divergence(flipped, q, **options) == kl_divergence(p, q, **options)


@pytest.mark.parametrize(
    "detector",
    [
        OneClassSVM(),
        IsolationForest(random_state=0),
        LocalOutlierFactor(novelty=True),
        make_pipeline(StandardScaler(), OneClassSVM()),
    ],
    ids=["one_class_svm", "isolation_forest", "local_outlier_factor", "pipeline"],
)
def test_outlier_detectors_are_not_densities(models, blobs, detector):
    # Their score_samples is a score, not a log-density: KL came out 0.0.
    detector = clone(detector).fit(blobs[0])
    p, _ = models
    # KL(P || Q) needs only Q's score_samples, which these have.
    with pytest.raises(
        TypeError, match=r"q must be a density estimator.*'outlier_detector'"
    ):
        kl_divergence(p, detector, n_samples=256)
    for function in FUNCTIONS:
        with pytest.raises(TypeError, match=r"q must be a (fitted )?density estimator"):
            function(p, detector, n_samples=256)
    scorer = make_divergence_scorer(p, n_samples=256)
    message = r"the scored estimator must be a (fitted )?density"
    with pytest.raises(TypeError, match=message):
        scorer(detector, blobs[0])


@pytest.fixture(scope="module")
def frames(blobs):
    """Two data frames of the same three features, in different column orders."""
    pandas = pytest.importorskip("pandas")
    first = pandas.DataFrame(blobs[0], columns=["a", "b", "c"])
    second = pandas.DataFrame(blobs[1], columns=["a", "b", "c"])[["c", "a", "b"]]
    return first, second


def test_features_in_another_order_are_rejected(frames):
    # Fitted on the same columns in another order, the models pair unrelated
    # features: the divergence was a meaningless large number.
    first, second = frames
    p = GaussianMixture(2, random_state=0).fit(first)
    q = GaussianMixture(2, random_state=0).fit(second)
    message = r"p and q were fitted on the same features in another order"
    for function in FUNCTIONS:
        with pytest.raises(ValueError, match=message):
            function(p, q, n_samples=256)
    with pytest.raises(ValueError, match=message):
        kl_bounds(p, q)
    with pytest.raises(ValueError, match="P and Q were fitted on the same features"):
        GMMDivergence(n_samples=256).fit(first, second)
    with pytest.raises(ValueError, match="P and Q were fitted"):
        GMMDivergence(n_samples=256).fit(p, second)
    with pytest.raises(ValueError, match="X_p and X_q were fitted"):
        divergence_test(first, second, n_permutations=1)
    scorer = make_divergence_scorer(first, n_samples=256)
    with pytest.raises(ValueError, match="scored estimator and reference were"):
        scorer(q)


def test_gmm_divergence_records_feature_names(frames):
    first, second = frames
    divergence = GMMDivergence(GaussianMixture(1), n_samples=256, random_state=0)
    divergence.fit(first, second[["a", "b", "c"]])
    np.testing.assert_array_equal(divergence.feature_names_in_, ["a", "b", "c"])
    assert divergence.fit(first.to_numpy(), second.to_numpy()).n_features_in_ == 3
    assert not hasattr(divergence, "feature_names_in_")
