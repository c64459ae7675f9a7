"""Uncertainty from the data: divergence_test, bootstrap intervals, degenerate fits."""

import math
import warnings
from typing import ClassVar

import numpy as np
import pytest
from conftest import mixture_1d, quad_js
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from sklearn_divergence import (
    DegenerateFitWarning,
    DivergenceTestResult,
    GMMDivergence,
    divergence_test,
    gaussian_kl_divergence,
    js_divergence,
)
from sklearn_divergence._data_space import ROWS_PER_PARAMETER
from sklearn_divergence._diagnostics import floor_variances, n_free_parameters
from sklearn_divergence._fitting import refit, seeded
from sklearn_divergence._selection import choose_mixture

# One full Gaussian: KL between two of them has a closed form, so a test on it
# needs no Monte Carlo and costs only its fits.
SINGLE_GAUSSIAN = GaussianMixture(1, random_state=0)


def _null_results(n_repeats, **options):
    results = []
    for seed in range(n_repeats):
        rng = np.random.default_rng(seed)
        X_p, X_q = rng.normal(size=(40, 1)), rng.normal(size=(30, 1))
        results.append(divergence_test(X_p, X_q, random_state=seed, **options))
    return results


@pytest.fixture(scope="module")
def null_results():
    return _null_results(
        80, divergence="kl", estimator=SINGLE_GAUSSIAN, n_permutations=19
    )


def test_pvalues_are_uniform_under_the_null(null_results):
    pvalues = np.array([result.pvalue for result in null_results])
    # p is k / 20 for k = 1..20, each equally likely when nothing differs.
    assert pvalues.min() >= 1 / 20 and pvalues.max() <= 1.0
    counts = np.histogram(pvalues, bins=[0, 0.26, 0.51, 0.76, 1.01])[0]
    assert stats.chisquare(counts).pvalue > 0.05, counts
    assert np.mean(pvalues <= 0.05) <= 0.1


def test_debiased_statistic_is_centred_under_the_null(null_results):
    statistics = np.array([result.statistic for result in null_results])
    debiased = np.array([result.statistic_debiased for result in null_results])
    # The plug-in KL of two fitted Gaussians is about (2 + 2) / (2 * 35) here.
    assert 0.03 < statistics.mean() < 0.12
    assert abs(debiased.mean()) < 0.25 * statistics.mean()
    assert debiased.min() < 0  # a centred estimate, not a divergence


def test_clearly_different_data_get_the_smallest_pvalue():
    rng = np.random.default_rng(0)
    X_p, X_q = rng.normal(0, 1, (100, 2)), rng.normal(1.5, 1, (100, 2))
    result = divergence_test(
        X_p, X_q, n_permutations=49, n_samples=2048, random_state=0
    )
    assert result.pvalue == 1 / 50
    assert result.statistic > result.null_distribution.max()
    assert 0 < result.statistic_debiased < result.statistic


def test_result_fields_and_pvalue_formula():
    rng = np.random.default_rng(1)
    X_p, X_q = rng.normal(0, 1, (60, 2)), rng.normal(0.2, 1, (50, 2))
    result = divergence_test(
        X_p, X_q, estimator=SINGLE_GAUSSIAN, n_permutations=29, random_state=3
    )
    assert isinstance(result, DivergenceTestResult)
    assert type(result.pvalue) is float and type(result.statistic) is float
    assert result.null_distribution.shape == (29,)
    exceeding = np.count_nonzero(result.null_distribution >= result.statistic)
    assert result.pvalue == (1 + exceeding) / 30
    assert result.pvalue >= 1 / 30
    assert result.statistic_debiased == pytest.approx(
        result.statistic - result.null_distribution.mean(), rel=1e-12
    )
    assert result.divergence == "js"


def test_statistic_is_the_divergence_between_the_fits():
    rng = np.random.default_rng(2)
    X_p, X_q = rng.normal(0, 1, (80, 2)), rng.normal(0.5, 1.5, (70, 2))
    kl = divergence_test(
        X_p, X_q, divergence="kl", estimator=SINGLE_GAUSSIAN, n_permutations=5
    )
    p, q = kl.estimator_p, kl.estimator_q
    assert np.allclose(p.means_[0], X_p.mean(axis=0), atol=1e-8)
    exact = gaussian_kl_divergence(
        p.means_[0], p.covariances_[0], q.means_[0], q.covariances_[0]
    )
    assert kl.statistic == pytest.approx(exact, rel=1e-10)
    js = divergence_test(X_p, X_q, n_permutations=5, n_samples=4096, random_state=7)
    same_streams = js_divergence(
        js.estimator_p, js.estimator_q, n_samples=4096, random_state=7
    )
    assert js.statistic == same_streams


def test_refits_run_em_to_convergence():
    # Started from the pooled fit, EM with GaussianMixture's default tol stops
    # early and leaves the two fits too alike: here JS came out 0.0037 nats
    # (6%) below that of fully converged fits.
    rng = np.random.default_rng(17)

    def sample(shift):
        z = rng.normal(size=(1000, 2))
        z[:, 0] += rng.choice([-1.5, 1.5], 1000) + shift
        return z

    X_p, X_q = sample(0.0), sample(0.9)
    divergence = GMMDivergence(n_samples=8192, random_state=0).fit(X_p, X_q)
    space = divergence.data_space_
    converged = [
        clone(model).set_params(tol=1e-12, max_iter=10_000).fit(space.transform(X))
        for model, X in ((divergence.estimator_p_, X_p), (divergence.estimator_q_, X_q))
    ]
    full = js_divergence(*converged, n_samples=8192, random_state=0)
    assert abs(divergence.js_ - full) < 1e-3


def test_js_distance_is_debiased_on_the_js_scale():
    rng = np.random.default_rng(4)
    X_p, X_q = rng.normal(0, 1, (80, 1)), rng.normal(0.8, 1, (80, 1))
    result = divergence_test(
        X_p,
        X_q,
        divergence="js_distance",
        estimator=SINGLE_GAUSSIAN,
        n_permutations=19,
        n_samples=2048,
        base=2,
        random_state=0,
    )
    js = result.statistic**2 - np.mean(result.null_distribution**2)
    assert js > 0
    assert result.statistic_debiased == pytest.approx(math.sqrt(js), rel=1e-12)
    assert 0 < result.statistic <= 1  # bits


def test_pipeline_estimator():
    rng = np.random.default_rng(5)
    X_p, X_q = rng.normal(0, 3, (60, 2)), rng.normal(0, 3, (60, 2))
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(1, random_state=0))
    result = divergence_test(
        X_p, X_q, estimator=pipeline, divergence="kl", n_permutations=9
    )
    assert result.estimator_p is not pipeline
    assert type(result.estimator_p).__name__ == "Pipeline"
    assert 1 / 10 <= result.pvalue <= 1


def test_default_configuration_is_chosen_on_the_pooled_data():
    rng = np.random.default_rng(6)
    blobs = np.vstack([rng.normal(-4, 1, (100, 2)), rng.normal(4, 1, (100, 2))])
    X_p, X_q = blobs[::2], blobs[1::2]
    result = divergence_test(X_p, X_q, n_permutations=9, n_samples=2048, random_state=0)
    assert result.estimator_p.n_components == result.estimator_q.n_components == 2
    # One EM step from the pooled fit: no KMeans, no random start.
    assert result.estimator_p.n_iter_ == 1


def test_bit_identical_across_n_jobs():
    rng = np.random.default_rng(7)
    X_p, X_q = rng.normal(0, 1, (80, 2)), rng.normal(0.3, 1, (70, 2))
    options = {"n_permutations": 8, "n_samples": 2048, "random_state": 11}
    serial = divergence_test(X_p, X_q, n_jobs=1, **options)
    parallel = divergence_test(X_p, X_q, n_jobs=2, **options)
    assert serial.statistic == parallel.statistic
    assert np.array_equal(serial.null_distribution, parallel.null_distribution)
    assert serial.pvalue == parallel.pvalue
    estimator = GMMDivergence(
        n_samples=2048, n_bootstrap=9, confidence_level=0.8, random_state=11
    )
    one = estimator.set_params(n_jobs=1).fit(X_p, X_q)
    distributions = dict(one.bootstrap_distribution_)
    intervals = one.js_ci_, one.kl_ci_
    two = estimator.set_params(n_jobs=2).fit(X_p, X_q)
    for name, values in distributions.items():
        assert np.array_equal(values, two.bootstrap_distribution_[name])
    assert intervals == (two.js_ci_, two.kl_ci_)


def test_same_seed_same_result_and_generators_advance():
    rng = np.random.default_rng(8)
    X_p, X_q = rng.normal(0, 1, (50, 1)), rng.normal(0, 1, (50, 1))
    options = {"estimator": SINGLE_GAUSSIAN, "divergence": "kl", "n_permutations": 9}
    first = divergence_test(X_p, X_q, random_state=3, **options)
    again = divergence_test(X_p, X_q, random_state=3, **options)
    assert np.array_equal(first.null_distribution, again.null_distribution)
    generator = np.random.default_rng(0)
    one = divergence_test(X_p, X_q, random_state=generator, **options)
    two = divergence_test(X_p, X_q, random_state=generator, **options)
    assert not np.array_equal(one.null_distribution, two.null_distribution)


# --- bootstrap intervals --------------------------------------------------------


def test_bootstrap_intervals_cover_the_truth():
    # 1-D Gaussians: the true KL is closed-form, the true JS from quadrature.
    p, q = mixture_1d([1.0], [0.0], [1.0]), mixture_1d([1.0], [0.6], [1.3])
    true_kl = gaussian_kl_divergence([0.0], [[1.0]], [0.6], [[1.69]])
    true_js = quad_js(p, q)
    covered = {"kl": [], "js": []}
    percentile_kl = []
    for seed in range(25):
        rng = np.random.default_rng(seed)
        X_p, X_q = rng.normal(0, 1, (100, 1)), rng.normal(0.6, 1.3, (100, 1))
        divergence = GMMDivergence(
            SINGLE_GAUSSIAN,
            method="stratified",
            n_samples=1024,
            n_bootstrap=29,
            confidence_level=0.9,
            random_state=seed,
        ).fit(X_p, X_q)
        for name, truth in (("kl", true_kl), ("js", true_js)):
            low, high = getattr(divergence, f"{name}_ci_")
            covered[name].append(low <= truth <= high)
        low, high = np.quantile(divergence.bootstrap_distribution_["kl"], [0.05, 0.95])
        percentile_kl.append(low <= true_kl <= high)
    assert np.mean(covered["kl"]) >= 0.8
    assert np.mean(covered["js"]) >= 0.8
    # The basic interval is chosen because it corrects the plug-in bias.
    assert np.mean(covered["kl"]) >= np.mean(percentile_kl)


def test_bootstrap_attributes():
    rng = np.random.default_rng(9)
    X_p, X_q = rng.normal(0, 1, (80, 2)), rng.normal(0.4, 1, (80, 2))
    divergence = GMMDivergence(
        n_samples=2048, n_bootstrap=9, confidence_level=0.8, random_state=0
    )
    divergence.fit(X_p, X_q)
    for name in ("kl", "kl_reverse", "js", "js_distance"):
        low, high = getattr(divergence, f"{name}_ci_")
        assert type(low) is float and 0 <= low <= high
        assert divergence.bootstrap_distribution_[name].shape == (9,)
    assert divergence.js_ci_[1] <= math.log(2)
    assert divergence.js_distance_ci_ == tuple(map(math.sqrt, divergence.js_ci_))
    plain = GMMDivergence(n_samples=2048, random_state=0).fit(X_p, X_q)
    assert not hasattr(plain, "js_ci_")
    assert not hasattr(plain, "bootstrap_distribution_")
    assert plain.js_ == divergence.js_


# --- degenerate fits ------------------------------------------------------------


def test_constant_feature_warns_and_names_it():
    # Constant in P only, and continuous in Q: P's diagonal model sits at the
    # variance floor there. Both entry points warn alike.
    rng = np.random.default_rng(10)
    X_p, X_q = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    X_p[:, 2] = 1.0
    diagonal = GaussianMixture(1, covariance_type="diag")
    with pytest.warns(DegenerateFitWarning, match=r"P's model has variance at the "):
        GMMDivergence(diagonal, n_samples=2048, random_state=0).fit(X_p, X_q)
    with pytest.warns(DegenerateFitWarning, match=r"in features \[2\]") as caught:
        divergence_test(
            X_p,
            X_q,
            estimator=diagonal,
            n_permutations=3,
            n_samples=2048,
            random_state=0,
        )
    message = str(caught[0].message)
    assert message.startswith("X_p's model") and "VarianceThreshold" in message


def test_too_many_parameters_warns():
    rng = np.random.default_rng(11)
    X_p, X_q = rng.normal(size=(40, 10)), rng.normal(size=(40, 10))
    with pytest.warns(DegenerateFitWarning, match="65 free parameters for 40 rows"):
        GMMDivergence(SINGLE_GAUSSIAN, n_samples=2048, random_state=0).fit(X_p, X_q)


def test_supported_data_do_not_warn():
    rng = np.random.default_rng(12)
    X_p, X_q = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        GMMDivergence(n_samples=2048, random_state=0).fit(X_p, X_q)


def test_bic_never_chooses_parameters_near_the_rows():
    # Like the two halves of a digits class: 90 rows of 40 features.
    rng = np.random.default_rng(13)
    X = rng.normal(size=(90, 40)) * np.geomspace(0.1, 10, 40)
    # The pooled data of a test are larger; the parts must still be supported.
    for data in (X, np.vstack([X, X + 0.1])):
        model = choose_mixture(data, n_rows=90, random_state=0)
        k, d = model.means_.shape
        parameters = n_free_parameters(k, d, model.covariance_type)
        # One spherical Gaussian is always allowed: it is the simplest model.
        simplest = (k, model.covariance_type) == (1, "spherical")
        assert simplest or parameters * ROWS_PER_PARAMETER <= 90
    # 90 rows of 10 features afford more than one spherical Gaussian.
    model = choose_mixture(X[:, :10], n_rows=90, random_state=0)
    k, d = model.means_.shape
    assert n_free_parameters(k, d, model.covariance_type) * ROWS_PER_PARAMETER <= 90


def test_bic_skips_components_collapsed_onto_a_discrete_value():
    rng = np.random.default_rng(14)
    X = np.column_stack([5.0 * rng.integers(0, 2, 400), rng.normal(size=400)])
    collapsed = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    assert floor_variances(collapsed).any()  # what BIC would otherwise prefer
    chosen = choose_mixture(X, n_rows=400, random_state=0)
    assert collapsed.bic(X) < chosen.bic(X)
    assert not floor_variances(chosen).any()


# --- threads --------------------------------------------------------------------


class _ThreadRecordingMixture(GaussianMixture):
    """Records the native thread counts it is fitted under."""

    seen: ClassVar[list] = []

    def fit(self, X, y=None):
        _ThreadRecordingMixture.seen += [
            library["num_threads"] for library in threadpool_info()
        ]
        return super().fit(X, y)


def test_every_fit_runs_single_threaded():
    _ThreadRecordingMixture.seen.clear()
    rng = np.random.default_rng(15)
    X_p, X_q = rng.normal(size=(60, 2)), rng.normal(size=(60, 2))
    estimator = _ThreadRecordingMixture(1, random_state=0)
    divergence_test(X_p, X_q, estimator=estimator, divergence="kl", n_permutations=3)
    GMMDivergence(estimator, n_samples=2048, n_bootstrap=3, confidence_level=0.5).fit(
        X_p, X_q
    )
    refit(estimator, X_p)
    assert len(_ThreadRecordingMixture.seen) >= 15
    assert set(_ThreadRecordingMixture.seen) == {1}


def test_seeded_sets_only_unset_random_states():
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(2))
    assert seeded(pipeline, 5).get_params()["gaussianmixture__random_state"] == 5
    assert pipeline.get_params()["gaussianmixture__random_state"] is None
    fixed = GaussianMixture(2, random_state=1)
    assert seeded(fixed, 5).random_state == 1


# --- bad input ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(16)
    return rng.normal(size=(30, 2)), rng.normal(size=(25, 2))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"n_permutations": 0}, ValueError, "n_permutations must be an integer >= 1"),
        ({"n_permutations": -5}, ValueError, "n_permutations must be an integer"),
        ({"n_permutations": 9.5}, ValueError, "n_permutations must be an integer"),
        ({"n_permutations": True}, ValueError, "n_permutations must be an integer"),
        ({"divergence": "kl2"}, ValueError, "divergence must be one of"),
        ({"method": "magic"}, ValueError, "method must be one of"),
        ({"method": "closed"}, ValueError, "no closed form for the Jensen-Shannon"),
        ({"n_samples": 1}, ValueError, r"n_samples must be an integer in \[2, "),
        ({"base": 1}, ValueError, "base must be None"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be None or a non-zero integer"),
        ({"random_state": "abc"}, ValueError, "random_state"),
        ({"estimator": LogisticRegression()}, TypeError, "density estimator"),
        ({"estimator": "gmm"}, TypeError, "estimator must be None or a density"),
        (
            {"estimator": GaussianMixture(26)},
            ValueError,
            "n_components=26, more than the 25 rows of the smaller data set",
        ),
    ],
)
def test_test_bad_options(small_data, options, error, message):
    with pytest.raises(error, match=message):
        divergence_test(*small_data, **options)


def test_test_needs_data_not_models(small_data):
    X_p, X_q = small_data
    model = GaussianMixture(1, random_state=0).fit(X_p)
    with pytest.raises(TypeError, match="X_p is a GaussianMixture, but a two-sample"):
        divergence_test(model, X_q)
    with pytest.raises(TypeError, match=r"X_q is a GaussianMixture.*needs the data"):
        divergence_test(X_p, model)


def test_test_bad_data(small_data):
    X_p, X_q = small_data
    with pytest.raises(ValueError, match="X_p has 2 and X_q has 3"):
        divergence_test(X_p, np.ones((10, 3)))
    with pytest.raises(ValueError, match="X_q"):
        divergence_test(X_p, [[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ValueError, match="X_p"):
        divergence_test(X_p[:1], X_q)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, "0.9", True, np.nan])
def test_confidence_level_must_be_in_the_open_unit_interval(small_data, level):
    with pytest.raises(ValueError, match="confidence_level must be a number strictly"):
        GMMDivergence(n_bootstrap=5, confidence_level=level).fit(*small_data)


@pytest.mark.parametrize("n_bootstrap", [-1, 2.5, True, "10"])
def test_n_bootstrap_must_be_a_count(small_data, n_bootstrap):
    with pytest.raises(ValueError, match="n_bootstrap must be an integer >= 0"):
        GMMDivergence(n_bootstrap=n_bootstrap).fit(*small_data)


class _ExplodingMixture(GaussianMixture):
    """Fails if fitted: proves that an error came before any work."""

    def fit(self, X, y=None):
        raise AssertionError("fitted before the input was checked")


def test_bootstrap_with_a_fitted_model_fails_before_any_fit(small_data):
    X_p, X_q = small_data
    model = GaussianMixture(1, random_state=0).fit(X_p)
    divergence = GMMDivergence(_ExplodingMixture(1), n_bootstrap=5)
    with pytest.raises(ValueError, match=r"n_bootstrap=5 resamples.*P is a fitted"):
        divergence.fit(model, X_q)
    with pytest.raises(ValueError, match="but P and Q are fitted models"):
        divergence.fit(model, model)
