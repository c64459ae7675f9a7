"""Bad input at every public entry point: the right exception, naming the argument.

Each case is one careless call. It must fail before any work with the
package's own message, which names the argument, never with a numpy or scipy
message or a wrong value.
"""

import matplotlib
import numpy as np
import pytest
import scipy.sparse
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity
from sklearn.svm import OneClassSVM

from sklearn_divergence import (
    DivergenceDisplay,
    GMMDivergence,
    cauchy_schwarz_divergence,
    discrete,
    divergence_test,
    gaussian_kl_divergence,
    js_bounds,
    js_distance,
    js_divergence,
    kl_bounds,
    kl_divergence,
    make_divergence_scorer,
    set_config,
)

matplotlib.use("Agg")

_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(60, 2))
Y = _RNG.normal(0.5, 1.0, size=(50, 2))
P = GaussianMixture(2, random_state=0).fit(X)
Q = GaussianMixture(1, random_state=0).fit(Y)
THREE_FEATURES = GaussianMixture(1, random_state=0).fit(_RNG.normal(size=(40, 3)))
TOPHAT = KernelDensity(kernel="tophat").fit(X)
DETECTOR = OneClassSVM().fit(X)
CLASSIFIER = LogisticRegression().fit(X, X[:, 0] > 0)
SCORER = make_divergence_scorer(Q, n_samples=256)

FUNCTIONS = {"kl": kl_divergence, "js": js_divergence, "js_distance": js_distance}

# (keyword arguments of kl_divergence, js_divergence and js_distance,
#  exception, pattern naming the argument)
FUNCTION_CASES = [
    ({"method": "magic"}, ValueError, "method must be one of"),
    ({"method": 3}, ValueError, "method must be one of"),
    ({"n_samples": 1}, ValueError, r"n_samples must be an integer in \[2, "),
    ({"n_samples": 2.5}, ValueError, "n_samples must be an integer"),
    ({"n_samples": "100"}, ValueError, "n_samples must be an integer"),
    ({"n_samples": True}, ValueError, "n_samples must be an integer"),
    ({"base": 1}, ValueError, "base must be None"),
    ({"base": 0.5}, ValueError, "base must be None"),
    ({"base": "2"}, ValueError, "base must be None"),
    ({"base": np.inf}, ValueError, "base must be None"),
    ({"random_state": -1}, ValueError, "random_state must be None"),
    ({"random_state": 2**40}, ValueError, "random_state must be None"),
    ({"random_state": "abc"}, ValueError, "random_state must be None"),
    ({"random_state": 1.5}, ValueError, "random_state must be None"),
    ({"random_state": True}, ValueError, "random_state cannot be a bool"),
    ({"n_jobs": 0}, ValueError, "n_jobs must be None or a non-zero integer"),
    ({"n_jobs": "2"}, ValueError, "n_jobs must be None or a non-zero integer"),
    ({"return_std": "False"}, ValueError, "return_std must be True or False"),
    ({"return_std": 2}, ValueError, "return_std must be True or False"),
    ({"p": None}, TypeError, "p must be a fitted density estimator"),
    ({"p": X}, TypeError, "p must be a fitted density estimator"),
    ({"q": object()}, TypeError, "q must be a fitted density estimator"),
    ({"p": CLASSIFIER}, TypeError, "p must be .*LogisticRegression has no sample"),
    ({"q": DETECTOR}, TypeError, "q must be a (fitted )?density estimator"),
    ({"q": THREE_FEATURES}, ValueError, "p has 2 and q has 3"),
    ({"p": TOPHAT, "method": "stratified"}, ValueError, "'stratified' needs p to"),
    ({"p": TOPHAT, "method": "rqmc"}, ValueError, "method='rqmc' needs p to"),
    ({"method": "rqmc", "n_samples": 4}, ValueError, "needs n_samples >= 16 for p"),
    ({"method": "stratified", "n_samples": 3}, ValueError, "n_samples >= 4 for p"),
]

# Only for KL: the closed form; only for JS: the methods that cannot give it.
KL_CASES = [
    ({"method": "closed"}, ValueError, "method='closed' .* p has 2 components"),
    ({"p": TOPHAT, "method": "variational"}, ValueError, "'variational' needs p"),
]
JS_CASES = [
    ({"method": "closed"}, ValueError, "no closed form .* use method="),
    ({"method": "matched"}, ValueError, "method='matched' is not available"),
]


def _function_cases():
    for name, function in FUNCTIONS.items():
        extra = KL_CASES if name == "kl" else JS_CASES
        for index, (kwargs, error, pattern) in enumerate(FUNCTION_CASES + extra):
            yield pytest.param(function, kwargs, error, pattern, id=f"{name}-{index}")


@pytest.mark.parametrize(
    ("function", "kwargs", "error", "pattern"), list(_function_cases())
)
def test_divergence_functions(function, kwargs, error, pattern):
    arguments = {"p": P, "q": Q, "n_samples": 256, **kwargs}
    with pytest.raises(error, match=pattern):
        function(arguments.pop("p"), arguments.pop("q"), **arguments)


# (GMMDivergence parameters, fit's P and Q, exception, pattern)
ESTIMATOR_CASES = [
    ({"method": "magic"}, (X, Y), ValueError, "method must be one of"),
    ({"method": "closed"}, (X, Y), ValueError, "no closed form .* method="),
    ({"n_samples": 0}, (X, Y), ValueError, r"n_samples must be an integer in \[2, "),
    ({"base": -2}, (X, Y), ValueError, "base must be None"),
    ({"random_state": -1}, (X, Y), ValueError, "random_state must be None"),
    ({"n_jobs": 1.5}, (X, Y), ValueError, "n_jobs must be None"),
    ({"n_bootstrap": -1}, (X, Y), ValueError, "n_bootstrap must be an integer >= 0"),
    ({"n_bootstrap": 1.5}, (X, Y), ValueError, "n_bootstrap must be an integer"),
    ({"confidence_level": 1}, (X, Y), ValueError, "confidence_level must be"),
    ({"confidence_level": "0.9"}, (X, Y), ValueError, "confidence_level must be"),
    ({"estimator": "gmm"}, (X, Y), TypeError, "estimator must be None or a density"),
    ({"estimator": LogisticRegression()}, (X, Y), TypeError, "estimator must be"),
    ({"estimator": OneClassSVM()}, (X, Y), TypeError, "estimator must be"),
    ({"estimator": GaussianMixture(51)}, (X, Y), ValueError, "estimator has n_comp"),
    ({}, (None, Y), TypeError, "P must be a fitted density estimator or data"),
    ({}, (X, Y[:, 0]), ValueError, "Q must be 2-D"),
    ({}, (X, "data"), TypeError, "Q must be a fitted density estimator or data"),
    ({}, (np.full((10, 2), "a"), Y), ValueError, "P must hold numbers"),
    ({}, (X, [[1.0, 2.0], [3.0]]), ValueError, "Q must be a rectangular array"),
    ({}, (scipy.sparse.csr_matrix(X), Y), TypeError, "P must be a dense array"),
    ({}, (X[:1], Y), ValueError, "P"),
    ({}, (X, np.where(Y > 2, np.nan, Y)), ValueError, "Q contains NaN"),
    ({}, (X, THREE_FEATURES), ValueError, "P has 2 and Q has 3"),
    ({}, (X, DETECTOR), TypeError, "Q must be a (fitted )?density estimator"),
    ({"n_bootstrap": 5}, (P, Y), ValueError, "n_bootstrap=5 .* P is a fitted model"),
    ({"method": "stratified"}, (TOPHAT, Y), ValueError, "'stratified' needs P"),
]


@pytest.mark.parametrize(("params", "inputs", "error", "pattern"), ESTIMATOR_CASES)
def test_gmm_divergence_fit(params, inputs, error, pattern):
    with pytest.raises(error, match=pattern):
        GMMDivergence(**{"n_samples": 256, **params}).fit(*inputs)


# (make_divergence_scorer arguments, exception, pattern)
SCORER_CASES = [
    (("js",), {}, TypeError, "reference must be a fitted density estimator or"),
    ((None,), {}, TypeError, "reference must be a fitted density estimator or"),
    ((Q,), {"divergence": "hellinger"}, ValueError, "divergence must be one of"),
    ((Q,), {"divergence": None}, ValueError, "divergence must be one of"),
    ((Q,), {"method": "magic"}, ValueError, "method must be one of"),
    ((Q,), {"method": "closed"}, ValueError, "no closed form .* method="),
    ((Q,), {"n_samples": 1}, ValueError, r"n_samples must be an integer in \[2, "),
    ((Q,), {"base": 0}, ValueError, "base must be None"),
    ((Q,), {"random_state": "abc"}, ValueError, "random_state must be None"),
    ((TOPHAT,), {"method": "rqmc"}, ValueError, "method='rqmc' needs reference"),
    ((X[:, 0],), {}, ValueError, "reference must be 2-D"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "pattern"), SCORER_CASES)
def test_make_divergence_scorer(args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        make_divergence_scorer(*args, **kwargs)


@pytest.mark.parametrize(
    ("estimator", "error", "pattern"),
    [
        (CLASSIFIER, TypeError, "the scored estimator must be .*no sample"),
        (DETECTOR, TypeError, "the scored estimator must be a (fitted )?density"),
        (GaussianMixture(), NotFittedError, "GaussianMixture"),
        (THREE_FEATURES, ValueError, "the scored estimator has 3 .* reference has 2"),
    ],
)
def test_scored_estimators(estimator, error, pattern):
    with pytest.raises(error, match=pattern):
        SCORER(estimator, X)


# (divergence_test arguments, exception, pattern)
TEST_CASES = [
    ((None, Y), {}, TypeError, "X_p must be array-like"),
    ((X, "Y"), {}, TypeError, "X_q must be array-like"),
    ((P, Y), {}, TypeError, "X_p is a GaussianMixture"),
    ((X, Y[:, :1].ravel()), {}, ValueError, "X_q must be 2-D"),
    ((X, np.hstack([Y, Y[:, :1]])), {}, ValueError, "X_p has 2 .* X_q has 3"),
    ((X, Y), {"divergence": "kl2"}, ValueError, "divergence must be one of"),
    ((X, Y), {"n_permutations": 0}, ValueError, "n_permutations must be an int"),
    ((X, Y), {"n_permutations": 9.5}, ValueError, "n_permutations must be an int"),
    ((X, Y), {"method": "magic"}, ValueError, "method must be one of"),
    ((X, Y), {"n_samples": 1}, ValueError, "n_samples must be an integer"),
    ((X, Y), {"base": 1}, ValueError, "base must be None"),
    ((X, Y), {"n_jobs": 0}, ValueError, "n_jobs must be None"),
    ((X, Y), {"random_state": 2**40}, ValueError, "random_state must be None"),
    ((X, Y), {"estimator": CLASSIFIER}, TypeError, "estimator must be"),
    ((X, Y), {"estimator": GaussianMixture(51)}, ValueError, "n_components=51"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "pattern"), TEST_CASES)
def test_divergence_test(args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        divergence_test(*args, **kwargs)


# (DivergenceDisplay.from_estimators arguments): each fails before the first
# estimate, which is why the counting stand-in for p is never sampled.
DISPLAY_CASES = [
    ({"divergence": "hellinger"}, ValueError, "divergence must be one of"),
    ({"method": "variational"}, ValueError, "method must be one of"),
    ({"approximations": "no"}, ValueError, "approximations must be True or False"),
    ({"bounds": 0}, ValueError, "bounds must be True or False"),
    ({"n_samples": []}, ValueError, "n_samples must be a non-empty"),
    ({"n_samples": [256, 1.5]}, ValueError, "n_samples must be an integer"),
    ({"base": 1}, ValueError, "base must be None"),
    ({"n_jobs": 0}, ValueError, "n_jobs must be None"),
    ({"ax": "axes"}, TypeError, "ax must be a matplotlib Axes or None"),
    ({"q": TOPHAT}, ValueError, "approximations=True or bounds=True needs q"),
    (
        {"q": TOPHAT, "method": "rqmc", "approximations": False, "bounds": False},
        ValueError,
        "method='rqmc' needs q",
    ),
    ({"method": "rqmc", "n_samples": [4]}, ValueError, "n_samples >= 16 for p"),
]


@pytest.mark.parametrize(("kwargs", "error", "pattern"), DISPLAY_CASES)
def test_display(kwargs, error, pattern):
    arguments = {"p": P, "q": Q, "divergence": "js", "n_samples": [256], **kwargs}
    with pytest.raises(error, match=pattern):
        DivergenceDisplay.from_estimators(
            arguments.pop("p"), arguments.pop("q"), **arguments
        )


@pytest.mark.parametrize("function", [kl_bounds, js_bounds, cauchy_schwarz_divergence])
@pytest.mark.parametrize(
    ("p", "q", "kwargs", "error", "pattern"),
    [
        (TOPHAT, Q, {}, ValueError, "needs p to be a Gaussian mixture"),
        (P, None, {}, TypeError, "q must be a fitted density estimator"),
        (P, THREE_FEATURES, {}, ValueError, "p has 2 and q has 3"),
        (P, Q, {"base": 1}, ValueError, "base must be None"),
    ],
)
def test_bounds(function, p, q, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        function(p, q, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (("a", 1.0, 0.0, 1.0), {}, "mean_p must hold real numbers"),
        (([0.0], None, [0.0], 1.0), {}, "cov_p must hold real numbers"),
        (([0.0], 1.0, [0.0], 1.0 + 1.0j), {}, "cov_q must hold real numbers"),
        (([0.0, 1.0], 1.0, [0.0], 1.0), {}, "mean_p and mean_q must have the same"),
        (([0, 0], [[1, 2], [2, 1]], [0, 0], 1.0), {}, "cov_p is not positive def"),
        (([0.0], -1.0, [0.0], 1.0), {}, "cov_p must be positive"),
        (([np.nan], 1.0, [0.0], 1.0), {}, "mean_p has non-finite values"),
        (([0.0], 1.0, [0.0], 1.0), {"base": 1}, "base must be None"),
        ((0.0, 1.0, 0.0, 1.0), {}, "mean_p must be a non-empty 1-D array"),
    ],
)
def test_gaussian_kl_divergence(args, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        gaussian_kl_divergence(*args, **kwargs)


HALVES = [0.5, 0.5]


@pytest.mark.parametrize(
    "function", [discrete.kl_divergence, discrete.js_divergence, discrete.js_distance]
)
@pytest.mark.parametrize(
    ("p", "q", "kwargs", "error", "pattern"),
    [
        (HALVES, HALVES, {"axis": "0"}, ValueError, "axis must be an integer"),
        (HALVES, HALVES, {"axis": 1.0}, ValueError, "axis must be an integer"),
        (HALVES, HALVES, {"axis": 1}, ValueError, r"axis must be in \[-1, 1\)"),
        (["a", "b"], HALVES, {}, ValueError, "p must hold real numbers"),
        (HALVES, [0.5 + 1j, 0.5], {}, ValueError, "q must hold real numbers"),
        ([[0.5, 0.5], [1.0]], HALVES, {}, ValueError, "p must be a rectangular"),
        (scipy.sparse.csr_matrix([HALVES]), [HALVES], {}, TypeError, "p must be a d"),
        (HALVES, [1.5, -0.5], {}, ValueError, "q has negative entries"),
        ([0.5, 0.6], HALVES, {}, ValueError, "p must sum to 1"),
        (HALVES, [0.2, 0.3, 0.5], {}, ValueError, "p and q must have the same shape"),
        (0.5, HALVES, {}, ValueError, "p must be an array of probabilities"),
        (HALVES, HALVES, {"base": 1}, ValueError, "base must be None"),
    ],
)
def test_discrete(function, p, q, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        function(p, q, **kwargs)


def test_set_config():
    with pytest.raises(ValueError, match="show_progress must be True or False"):
        set_config(show_progress="yes")
