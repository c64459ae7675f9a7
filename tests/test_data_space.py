"""The default data model on real-looking data: pooled coordinates, grids, intervals."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.mixture import GaussianMixture

from sklearn_divergence import DegenerateFitWarning, GMMDivergence, divergence_test
from sklearn_divergence._data_space import (
    DataSpace,
    grid_step,
    supported_dimensions,
)
from sklearn_divergence._diagnostics import fit_problems
from sklearn_divergence._fitting import warm_started
from sklearn_divergence._one_step import VIEWS, OneStepModels
from sklearn_divergence._permutation import _min_p
from sklearn_divergence.discrete import js_divergence as discrete_js

LOG_2 = math.log(2.0)


@pytest.mark.parametrize(
    ("values", "step"),
    [
        (np.array([0.0, 3.0, 1.0, 2.0, 3.0]), 1.0),
        (np.array([0.5, 2.0, 1.0]), 0.5),
        (np.array([17.99, 18.0, 18.02, 11.42]), 0.01),
        # Gaps that are no multiples of the smallest: no grid is seen.
        (np.array([0.0, 2.0, 5.0]), 0.0),
        (np.array([4.0, 4.0, 4.0]), 0.0),
        (np.random.default_rng(0).normal(size=50), 0.0),
    ],
)
def test_grid_step(values, step):
    assert grid_step(values) == pytest.approx(step, rel=1e-6)


def test_dequantised_values_stay_in_their_grid_cell():
    rng = np.random.default_rng(1)
    pooled = np.column_stack([rng.integers(0, 5, 400), rng.normal(size=400)])
    space, mapped = DataSpace.learn(
        pooled, 200, entropy=0, dequantize=True, max_dimensions=None, names=None
    )
    assert space.dequantized == {0: 1.0}
    raw = mapped[:, 0] / space.matrix[0, 0] + space.center[0]
    # Each dequantised value rounds back to its integer: the cell gives it back.
    np.testing.assert_array_equal(np.round(raw), pooled[:, 0])
    assert np.abs(raw - pooled[:, 0]).max() <= 0.5
    # The continuous feature is only standardised, exactly.
    standardised = (pooled[:, 1] - pooled[:, 1].mean()) / pooled[:, 1].std()
    np.testing.assert_allclose(mapped[:, 1], standardised, atol=1e-12)


def test_pooled_constant_features_are_dropped_and_change_nothing():
    rng = np.random.default_rng(2)
    X_p, X_q = rng.normal(size=(300, 2)), rng.normal(0.4, 1.0, size=(300, 2))
    options = dict(n_samples=4096, random_state=0)
    plain = GMMDivergence(**options).fit(X_p, X_q)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        padded = GMMDivergence(**options).fit(
            np.column_stack([X_p, np.full(300, 7.0)]),
            np.column_stack([X_q, np.full(300, 7.0)]),
        )
    assert padded.data_space_.dropped == (2,)
    assert padded.n_features_in_ == 3
    assert padded.js_ == plain.js_


def test_affine_map_of_both_data_sets_changes_nothing():
    rng = np.random.default_rng(3)
    X_p, X_q = rng.normal(size=(400, 3)), rng.normal(0.3, 1.2, size=(400, 3))
    scale, offset = np.array([1e-3, 50.0, 2.0]), np.array([10.0, -3.0, 1e4])
    options = dict(n_samples=4096, random_state=0)
    original = GMMDivergence(**options).fit(X_p, X_q)
    mapped = GMMDivergence(**options).fit(X_p * scale + offset, X_q * scale + offset)
    for name in ("kl_", "kl_reverse_", "js_"):
        assert getattr(mapped, name) == pytest.approx(getattr(original, name), rel=1e-6)


def test_feature_constant_in_one_data_set_is_not_pinned_at_log_2():
    # A count feature: always 0 in P, 0 or 1 (one in ten) in Q. Dequantised,
    # its divergence is that of the discrete distributions [1, 0] and
    # [0.9, 0.1], 0.03 nats of JS, not log 2 through a variance floor.
    rng = np.random.default_rng(4)
    n = 2000
    X_p = np.column_stack([rng.normal(size=n), np.zeros(n)])
    X_q = np.column_stack([rng.normal(size=n), (rng.random(n) < 0.1).astype(float)])
    divergence = GMMDivergence(n_samples=8192, random_state=0).fit(X_p, X_q)
    truth = discrete_js([1.0, 0.0], [0.9, 0.1])
    assert divergence.data_space_.dequantized == {1: 1.0}
    assert 0.3 * truth < divergence.js_ < 3.0 * truth < 0.2 * LOG_2
    # Without dequantisation P's model sits at the variance floor in the
    # count, a warning says so, and JS comes out over three times the
    # discrete one.
    floored = GMMDivergence(n_samples=8192, random_state=0, dequantize=False)
    with pytest.warns(
        DegenerateFitWarning, match=r"floor \(0.0001\) in features \[1\]"
    ):
        assert floored.fit(X_p, X_q).js_ > 3.0 * truth


def test_same_class_digits_are_not_pinned_at_log_2():
    X, y = load_digits(return_X_y=True)
    threes = X[y == 3]
    order = np.random.default_rng(5).permutation(len(threes))
    halves = threes[order[:90]], threes[order[90:]]
    result = divergence_test(*halves, n_permutations=19, n_samples=4096, random_state=0)
    space = result.data_space
    assert space.projected and space.n_dimensions == supported_dimensions(90)
    assert space.dropped  # pixels that are 0 in every image of a 3
    assert result.statistic < 0.5 * LOG_2
    assert np.median(result.null_distribution) < 0.5 * LOG_2
    assert "lower bound" in space.describe()
    # Against the other class, the same test sees the difference.
    eights = X[y == 8][:90]
    against = divergence_test(
        halves[0], eights, n_permutations=19, n_samples=4096, random_state=0
    )
    assert against.pvalue == pytest.approx(1 / 20)


def test_max_dimensions():
    rng = np.random.default_rng(6)
    X_p, X_q = rng.normal(size=(60, 12)), rng.normal(size=(60, 12))
    options = dict(n_samples=2048, random_state=0)
    assert supported_dimensions(60) == 4  # 14 parameters: 4 * 14 <= 60
    auto = GMMDivergence(**options).fit(X_p, X_q).data_space_
    assert auto.projected and auto.n_dimensions == 4
    three = GMMDivergence(max_dimensions=3, **options).fit(X_p, X_q).data_space_
    assert three.n_dimensions == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        full = GMMDivergence(max_dimensions=None, **options).fit(X_p, X_q)
    assert not full.data_space_.projected and full.data_space_.n_dimensions == 12


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_dimensions": 0}, "max_dimensions must be 'auto', None or an integer"),
        ({"max_dimensions": "all"}, "max_dimensions must be 'auto', None"),
        ({"dequantize": "yes"}, "dequantize must be True or False"),
        ({"n_bootstrap": 5}, r"n_bootstrap=5 is too few .* n_bootstrap >= 39"),
        (
            {"n_bootstrap": 5, "confidence_level": 0.8},
            r"n_bootstrap=5 is too few .* n_bootstrap >= 9",
        ),
    ],
)
def test_bad_parameters_fail_before_any_fit(params, message):
    X = np.random.default_rng(7).normal(size=(50, 2))
    with pytest.raises(ValueError, match=message):
        GMMDivergence(**params).fit(X, X + 1.0)
    if "n_bootstrap" not in params:
        with pytest.raises(ValueError, match=message):
            divergence_test(X, X + 1.0, **params)


def test_interval_contains_its_bias_corrected_estimate_and_refits_reset_it():
    rng = np.random.default_rng(8)
    # Two halves of one distribution: the plug-in estimate is all bias and
    # may lie above the interval; the bias-corrected one lies inside.
    X = rng.normal(size=(240, 3))
    divergence = GMMDivergence(n_samples=2048, n_bootstrap=39, random_state=0).fit(
        X[:120], X[120:]
    )
    for name in ("kl", "kl_reverse", "js", "js_distance"):
        low, high = getattr(divergence, f"{name}_ci_")
        assert low <= getattr(divergence, f"{name}_debiased_") <= high
    assert divergence.js_debiased_ < divergence.js_
    divergence.set_params(n_bootstrap=0).fit(X[:120], X[120:])
    for name in ("js_ci_", "js_debiased_", "kl_ci_", "bootstrap_distribution_"):
        assert not hasattr(divergence, name)


def test_tiny_component_warning_names_the_collapse():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 2))
    X[:2] += 40.0  # two far rows: a component of their own
    model = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    problems = fit_problems(model, 200)
    assert any("hold too few rows (weight x rows = 2)" in p for p in problems)
    assert len(problems) == 1  # neither constant nor collinear features


def test_explicit_estimator_is_used_as_given():
    rng = np.random.default_rng(10)
    X_p, X_q = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    estimator = GaussianMixture(1, covariance_type="diag")
    divergence = GMMDivergence(estimator, n_samples=2048, random_state=0)
    divergence.fit(X_p, X_q)
    assert divergence.data_space_ is None
    np.testing.assert_allclose(divergence.estimator_p_.means_[0], X_p.mean(axis=0))
    result = divergence_test(
        X_p, X_q, estimator=estimator, n_permutations=3, random_state=0
    )
    assert result.data_space is None


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_one_step_models_are_scikit_learns_em_step(covariance_type):
    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(150, 3)), rng.normal(2.0, 0.5, size=(150, 3))])
    pooled = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    models = OneStepModels(pooled, X)
    models.pseudo_rows = 0.0  # scikit-learn's M-step adds no pooled row
    rows = rng.permutation(300)[:120]
    rest = np.setdiff1d(np.arange(300), rows)
    pairs = models.pairs(rows)
    for model, part in zip(pairs["mixture"], (rows, rest), strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step = warm_started(pooled, 120).set_params(max_iter=1).fit(X[part])
        np.testing.assert_allclose(model.weights_, step.weights_, rtol=1e-9)
        np.testing.assert_allclose(model.means_, step.means_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            model.covariances_, step.covariances_, rtol=1e-8, atol=1e-12
        )
        np.testing.assert_allclose(
            model.score_samples(X), step.score_samples(X), rtol=1e-8
        )
    # The 'location' view keeps the pooled covariances; 'gaussian' is the
    # part's own mean and covariance.
    location = pairs["location"][0]
    np.testing.assert_array_equal(location.covariances_, pooled.covariances_)
    gaussian = pairs["gaussian"][0]
    np.testing.assert_allclose(gaussian.means_[0], X[rows].mean(axis=0))
    np.testing.assert_allclose(
        gaussian.covariances_[0],
        np.cov(X[rows].T, bias=True) + pooled.reg_covar * np.eye(3),
        rtol=1e-9,
    )
    # 'mean': the part's mean, the pooled rows' covariance.
    mean = pairs["mean"][0]
    np.testing.assert_allclose(mean.means_[0], X[rows].mean(axis=0))
    np.testing.assert_allclose(
        mean.covariances_[0],
        np.cov(X.T, bias=True) + pooled.reg_covar * np.eye(3),
        rtol=1e-9,
    )


def test_min_p_combination_by_brute_force():
    rng = np.random.default_rng(12)
    statistics = rng.normal(size=(3, 40))
    statistics[1, 0] = 5.0  # the observed split stands out in one view
    pvalue, by_view = _min_p(statistics)
    share = [[np.mean(row >= row[b]) for b in range(40)] for row in statistics]
    smallest = np.min(share, axis=0)
    assert pvalue == np.mean(smallest <= smallest[0])
    assert by_view == [share[v][0] for v in range(3)]
    assert by_view[1] == 1 / 40 and pvalue == pytest.approx(3 / 40, abs=2 / 40)


def test_combined_pvalue_is_uniform_under_the_null():
    # Exchangeable parts: P(p <= alpha) <= alpha for the min-p combination.
    pvalues = []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        X = rng.normal(size=(60, 2))
        result = divergence_test(
            X[:30], X[30:], n_permutations=9, n_samples=256, random_state=seed
        )
        pvalues.append(result.pvalue)
        assert set(result.pvalues_by_view) == set(VIEWS)
    pvalues = np.array(pvalues)
    # Each p-value is a multiple of 1/10; under the null P(p <= k/10) <= k/10.
    for k in (1, 3, 5):
        assert np.mean(pvalues <= k / 10) <= k / 10 + 2 * np.sqrt(k / 10 / 40)
