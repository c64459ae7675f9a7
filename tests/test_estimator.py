"""GMMDivergence: values, inputs, scikit-learn conventions and bad input."""

import pickle

import numpy as np
import pytest
import sklearn
from conftest import draw, make_mixture, mixture_1d, quad_js, quad_kl
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_divergence import (
    GMMDivergence,
    gaussian_kl_divergence,
    js_distance,
    js_divergence,
    kl_divergence,
)

LOG2 = np.log(2)


@pytest.fixture(scope="module")
def pair_1d():
    return (
        mixture_1d([0.3, 0.7], [-1.0, 1.0], [0.8, 1.2]),
        mixture_1d([0.5, 0.5], [0.0, 2.0], [1.0, 0.7]),
    )


@pytest.fixture(scope="module")
def fitted(blobs):
    p = GaussianMixture(3, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, covariance_type="diag", random_state=0).fit(blobs[1])
    return p, q


@pytest.mark.parametrize("method", ["mc", "stratified", "rqmc"])
def test_every_attribute_against_quadrature(pair_1d, method):
    p, q = pair_1d
    divergence = GMMDivergence(method=method, n_samples=2**16, random_state=1)
    divergence.fit(p, q)
    truths = {
        "kl": quad_kl(p, q),
        "kl_reverse": quad_kl(q, p),
        "js": quad_js(p, q),
        "js_distance": np.sqrt(quad_js(p, q)),
    }
    for name, (value, std_error) in divergence.summary().items():
        assert type(value) is float and type(std_error) is float, name
        assert 0 < std_error < 0.02, name
        assert abs(value - truths[name]) < 4.5 * std_error, name


def test_one_pass_per_side_matches_the_functions(fitted):
    p, q = fitted
    divergence = GMMDivergence(n_samples=50_000, random_state=3).fit(p, q)
    options = {"n_samples": 50_000, "random_state": 3, "return_std": True}
    # Sampling P serves KL(P || Q) and half of JS: the same points as the
    # function calls, so the same numbers up to rounding.
    kl, kl_se = kl_divergence(p, q, **options)
    js, js_se = js_divergence(p, q, **options)
    distance, distance_se = js_distance(p, q, **options)
    np.testing.assert_allclose(
        [divergence.kl_, divergence.js_, divergence.js_distance_],
        [kl, js, distance],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        [
            divergence.kl_std_error_,
            divergence.js_std_error_,
            divergence.js_distance_std_error_,
        ],
        [kl_se, js_se, distance_se],
        rtol=1e-9,
    )
    # KL(Q || P) uses Q's stream, unlike kl_divergence(q, p).
    reverse, reverse_se = kl_divergence(q, p, **options)
    assert abs(divergence.kl_reverse_ - reverse) < 4.5 * np.hypot(
        reverse_se, divergence.kl_reverse_std_error_
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_single_gaussians_use_the_closed_form_for_kl(covariance_type):
    rng = np.random.default_rng(0)
    p = GaussianMixture(1, covariance_type=covariance_type, random_state=0)
    q = clone(p)
    p.fit(rng.normal(0, 1, (200, 3)))
    q.fit(rng.normal([1, 0, -1], [2, 1, 0.5], (200, 3)))
    divergence = GMMDivergence(random_state=0).fit(p, q)
    # The one component's covariance: a scalar, (d,) or (d, d) array.
    cov_p, cov_q = (
        model.covariances_ if covariance_type == "tied" else model.covariances_[0]
        for model in (p, q)
    )
    exact = gaussian_kl_divergence(p.means_[0], cov_p, q.means_[0], cov_q)
    reverse = gaussian_kl_divergence(q.means_[0], cov_q, p.means_[0], cov_p)
    assert divergence.kl_ == pytest.approx(exact, rel=1e-12)
    assert divergence.kl_reverse_ == pytest.approx(reverse, rel=1e-12)
    assert divergence.kl_std_error_ == divergence.kl_reverse_std_error_ == 0.0
    assert 0 < divergence.js_ < LOG2
    assert divergence.js_std_error_ > 0


def test_deterministic_method_gives_zero_standard_errors(fitted):
    p, q = fitted
    divergence = GMMDivergence(method="variational").fit(p, q)
    for value, std_error in divergence.summary().values():
        assert value > 0
        assert std_error == 0.0


def test_divergence_of_a_model_from_itself(fitted):
    p, _ = fitted
    divergence = GMMDivergence(random_state=0).fit(p, p)
    assert divergence.kl_ == divergence.kl_reverse_ == 0.0
    assert divergence.js_ < 1e-12


def test_bits(fitted):
    p, q = fitted
    nats = GMMDivergence(n_samples=20_000, random_state=0).fit(p, q).summary()
    bits = GMMDivergence(n_samples=20_000, base=2, random_state=0).fit(p, q).summary()
    for name in ("kl", "kl_reverse", "js"):
        np.testing.assert_allclose(np.array(bits[name]) * LOG2, nats[name], rtol=1e-12)
    assert bits["js"][0] <= 1.0


def test_data_are_modelled_by_bic():
    # Three well-separated spherical clusters: BIC must find them.
    truth = make_mixture(
        [0.4, 0.35, 0.25], [[0, 0], [8, 0], [0, 8]], [1.0, 0.5, 2.0], "spherical"
    )
    X = draw(truth, 2000, seed=0)
    shifted = X + np.array([0.5, 0.0])
    divergence = GMMDivergence(n_samples=20_000, random_state=0).fit(X, shifted)
    for model in (divergence.estimator_p_, divergence.estimator_q_):
        assert isinstance(model, GaussianMixture)
        assert model.n_components == 3
        assert model.covariance_type == "spherical"
    assert divergence.n_features_in_ == 2
    # Reproducible, model fits included.
    again = GMMDivergence(n_samples=20_000, random_state=0).fit(X, shifted)
    assert again.summary() == divergence.summary()


def test_given_estimator_is_cloned_for_data(blobs):
    template = GaussianMixture(2, covariance_type="diag", random_state=0)
    divergence = GMMDivergence(template, n_samples=20_000, random_state=0)
    divergence.fit(*blobs)
    assert not hasattr(template, "means_")  # the parameter stays unfitted
    assert divergence.estimator_p_ is not template
    expected = GaussianMixture(2, covariance_type="diag", random_state=0).fit(blobs[0])
    np.testing.assert_array_equal(divergence.estimator_p_.means_, expected.means_)


def test_fitted_and_data_inputs_can_be_mixed(fitted, blobs):
    p, _ = fitted
    template = GaussianMixture(2, random_state=0)
    divergence = GMMDivergence(template, n_samples=20_000, random_state=0)
    divergence.fit(p, blobs[1])
    assert divergence.estimator_p_ is p
    q = GaussianMixture(2, random_state=0).fit(blobs[1])
    expected = kl_divergence(p, q, n_samples=20_000, random_state=0)
    assert divergence.kl_ == pytest.approx(expected, rel=1e-12)


def test_fitted_models_are_used_as_they_are_and_not_mutated(fitted):
    p, q = fitted
    before = pickle.dumps((p, q))
    params = p.get_params(), q.get_params()
    divergence = GMMDivergence(n_samples=20_000, random_state=0, n_jobs=2).fit(p, q)
    assert divergence.estimator_p_ is p
    assert divergence.estimator_q_ is q
    assert (p.get_params(), q.get_params()) == params
    assert pickle.dumps((p, q)) == before


def test_pipeline_estimator_is_the_input_space_density(blobs):
    # A standardising pipeline's mixture, mapped back to the input space, is
    # the mixture fitted on the raw data with the scaled parameters.
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    divergence = GMMDivergence(pipeline, method="variational").fit(*blobs)
    assert divergence.estimator_p_.steps[0][0] == "standardscaler"

    def unscaled(fitted_pipeline):
        scaler, mixture = fitted_pipeline[0], fitted_pipeline[-1]
        scale = np.outer(scaler.scale_, scaler.scale_)
        return make_mixture(
            mixture.weights_,
            mixture.means_ * scaler.scale_ + scaler.mean_,
            mixture.covariances_ * scale,
            "full",
        )

    p, q = unscaled(divergence.estimator_p_), unscaled(divergence.estimator_q_)
    expected = kl_divergence(p, q, method="variational")
    assert divergence.kl_ == pytest.approx(expected, rel=1e-9)
    # KL is invariant under the invertible map, so the pipelines' own spaces
    # agree too when both use the same scaler.
    assert divergence.js_ == pytest.approx(js_divergence(p, q, method="variational"))


def test_grid_search_estimator(blobs):
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2]})
    divergence = GMMDivergence(search, n_samples=20_000, random_state=0)
    divergence.fit(*blobs)
    best_p = divergence.estimator_p_.best_estimator_
    best_q = divergence.estimator_q_.best_estimator_
    expected = js_divergence(best_p, best_q, n_samples=20_000, random_state=0)
    assert divergence.js_ == pytest.approx(expected, rel=1e-12)


def test_kernel_density_estimator(blobs):
    divergence = GMMDivergence(
        KernelDensity(bandwidth=0.5), n_samples=20_000, random_state=0
    ).fit(*blobs)
    p, q = divergence.estimator_p_, divergence.estimator_q_
    for name, function in [("js", js_divergence), ("kl", kl_divergence)]:
        expected = function(p, q, n_samples=20_000, random_state=0)
        assert getattr(divergence, f"{name}_") == pytest.approx(expected, rel=1e-12)
    assert 0 < divergence.js_ < LOG2


def test_bit_identical_across_n_jobs(fitted):
    p, q = fitted
    results = [
        GMMDivergence(n_samples=70_000, random_state=5, n_jobs=n_jobs)
        .fit(p, q)
        .summary()
        for n_jobs in (1, 2, -1)
    ]
    assert results[0] == results[1] == results[2]


def test_clone_pickle_and_params(fitted):
    p, q = fitted
    divergence = GMMDivergence(method="rqmc", n_samples=10_000, random_state=0)
    assert repr(divergence) == (
        "GMMDivergence(method='rqmc', n_samples=10000, random_state=0)"
    )
    assert clone(divergence).get_params() == divergence.get_params()
    divergence.set_params(base=2)
    assert divergence.base == 2
    divergence.fit(p, q)
    restored = pickle.loads(pickle.dumps(divergence))
    assert restored.summary() == divergence.summary()
    assert not hasattr(clone(divergence), "kl_")


def test_samples_are_not_metadata_under_routing(blobs):
    # P and Q are fit's data: no set_fit_request, and fit works with metadata
    # routing enabled.
    assert not hasattr(GMMDivergence, "set_fit_request")
    assert GMMDivergence().get_metadata_routing().fit.requests == {}
    X_p, X_q = blobs
    with sklearn.config_context(enable_metadata_routing=True):
        divergence = GMMDivergence(n_samples=2_000, random_state=0).fit(X_p, X_q)
    assert divergence.kl_ > 0


def test_summary_needs_fit():
    with pytest.raises(NotFittedError):
        GMMDivergence().summary()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "magic"}, "method must be one of"),
        ({"method": "closed"}, "no closed form for the Jensen-Shannon"),
        ({"method": "matched"}, "not available for the Jensen-Shannon"),
        ({"n_samples": 1}, r"n_samples must be an integer in \[2, "),
        ({"n_samples": 1.5}, "n_samples must be an integer"),
        ({"base": 1}, "base must be None"),
        ({"n_jobs": 0}, "n_jobs must be None or a non-zero integer"),
        ({"n_jobs": "2"}, "n_jobs must be None or a non-zero integer"),
        ({"random_state": "seed"}, "random_state must be None, an int"),
        ({"estimator": GaussianMixture(501)}, "n_components=501, more than the 500"),
    ],
)
def test_bad_parameters_raise_at_fit(blobs, params, message):
    divergence = GMMDivergence(**params)  # no validation in __init__
    with pytest.raises(ValueError, match=message):
        divergence.fit(*blobs)


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        ("gmm", "estimator must be None or a density estimator"),
        (LogisticRegression(), "LogisticRegression has no sample"),
        (OneClassSVM(), "OneClassSVM has no sample method"),
    ],
)
def test_estimators_that_are_not_densities(blobs, estimator, message):
    with pytest.raises(TypeError, match=message):
        GMMDivergence(estimator).fit(*blobs)


def test_bad_data_raise_before_any_fit(blobs):
    class Exploding(GaussianMixture):
        def fit(self, X, y=None):
            raise AssertionError("fit must not run on invalid input")

    a, b = blobs
    bad = a.copy()
    bad[3, 1] = np.nan
    divergence = GMMDivergence(Exploding())
    with pytest.raises(ValueError, match="Input Q contains NaN"):
        divergence.fit(a, bad)
    with pytest.raises(ValueError, match="P has 3 and Q has 2"):
        divergence.fit(a, b[:, :2])
    with pytest.raises(ValueError, match="P must be 2-D"):
        divergence.fit(a[:, 0], b)
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        divergence.fit(a[:1], b)
    with pytest.raises(NotFittedError):
        GMMDivergence().fit(GaussianMixture(), b)


def test_same_number_of_features_between_a_model_and_data(fitted, blobs):
    p, _ = fitted
    with pytest.raises(ValueError, match="P has 3 and Q has 2"):
        GMMDivergence().fit(p, blobs[1][:, :2])


def test_accepts_lists_and_float32(blobs):
    a, b = blobs
    template = GaussianMixture(2, random_state=0)
    from_lists = GMMDivergence(template, n_samples=4096, random_state=0)
    from_lists.fit(a.tolist(), b.tolist())
    from_arrays = GMMDivergence(template, n_samples=4096, random_state=0)
    from_arrays.fit(a, b)
    assert from_lists.summary() == from_arrays.summary()
    # float32 data give float32 models, whose weights sum to 1 only to ~1e-7.
    from_float32 = GMMDivergence(template, n_samples=4096, random_state=0)
    from_float32.fit(a.astype(np.float32), b.astype(np.float32))
    assert from_float32.estimator_q_.weights_.dtype == np.float32
    assert from_float32.kl_ == pytest.approx(from_arrays.kl_, rel=1e-3)


# scikit-learn's common checks call fit(X, y) with y a 1-D target. Here the
# second argument is a second sample of the same features, so a 1-D array is
# rejected ("Q must be 2-D") and every check that fits with such a y fails
# for that reason alone. The properties those checks cover are tested above
# with two samples: fit returns self, refitting is idempotent, parameters are
# not changed, pickling, n_features_in_, NaN and shape errors, dtypes.
_FITS_WITH_1D_TARGET = (
    "check_fit_score_takes_y",  # also wants fit's 2nd argument named y
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_estimators_dtypes",
    "check_dtype_object",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
    # fit(X, None) raises a TypeError ("Q must be a fitted density estimator
    # or data"), not one of the ValueErrors this check looks for.
    "check_requires_y_none",
)


def _expected_failed_checks(estimator):
    reason = "fit(P, Q) takes a second 2-D sample, not a 1-D target y"
    return dict.fromkeys(_FITS_WITH_1D_TARGET, reason)


@parametrize_with_checks(
    [GMMDivergence(n_samples=2048, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_scikit_learn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n_samples", [4, 10, 30])
def test_default_model_on_small_samples_has_no_collapsed_components(n_samples):
    # N(0, I) against N(0.5, I): KL = 0.125. On tiny samples BIC used to pick
    # one component per point, with KL in the 1e5 range.
    rng = np.random.default_rng(0)
    P = rng.normal(0.0, 1.0, (n_samples, 2))
    Q = rng.normal(0.5, 1.0, (n_samples, 2))
    divergence = GMMDivergence(n_samples=8192, random_state=0).fit(P, Q)
    for model in (divergence.estimator_p_, divergence.estimator_q_):
        needed = 3 if model.covariance_type == "full" else 2
        assert model.weights_.min() * n_samples >= needed
    assert divergence.kl_ < 10
    assert divergence.js_ < LOG2 - 0.05


def test_infinite_kl_and_finite_js_from_the_same_points():
    # Tophat KDEs on partly overlapping supports: q = 0 on part of p's
    # support, so KL(P || Q) = inf, while JS stays finite.
    rng = np.random.default_rng(0)
    p = KernelDensity(kernel="tophat", bandwidth=0.5).fit(rng.uniform(0, 2, (50, 1)))
    q = KernelDensity(kernel="tophat", bandwidth=0.5).fit(rng.uniform(1, 3, (50, 1)))
    divergence = GMMDivergence(n_samples=8192, random_state=0).fit(p, q)
    assert divergence.kl_ == divergence.kl_reverse_ == np.inf
    assert divergence.kl_std_error_ == 0.0
    expected = js_divergence(p, q, n_samples=8192, random_state=0)
    assert divergence.js_ == pytest.approx(expected, rel=1e-12)
    assert 0.1 < divergence.js_ < LOG2


def test_js_at_log_2_is_a_python_float():
    p = mixture_1d([1.0], [0.0], [1.0])
    q = mixture_1d([1.0], [1e4], [1.0])
    divergence = GMMDivergence(n_samples=4096, random_state=0).fit(p, q)
    assert divergence.js_ == LOG2
    for value, std_error in divergence.summary().values():
        assert type(value) is float and type(std_error) is float


def test_method_that_cannot_use_a_model_fails_before_fitting(blobs):
    class Exploding(GaussianMixture):
        def fit(self, X, y=None):
            raise AssertionError("fit must not run on invalid input")

    tophat = KernelDensity(kernel="tophat").fit(blobs[1])
    for method, message in [
        ("variational", "needs Q to be a Gaussian mixture"),
        ("rqmc", "needs Q to be a Gaussian mixture"),
    ]:
        with pytest.raises(ValueError, match=message):
            GMMDivergence(Exploding(), method=method).fit(blobs[0], tophat)
    many = GaussianMixture(8, random_state=0).fit(blobs[1])
    with pytest.raises(ValueError, match="n_samples >= 64 for P"):
        GMMDivergence(Exploding(), method="rqmc", n_samples=50).fit(many, blobs[0])
