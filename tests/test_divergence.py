"""kl_divergence, js_divergence and js_distance against exact values."""

import copy
import itertools
import math
import pickle

import joblib
import numpy as np
import pytest
from conftest import _quad, log_pdf_1d, make_mixture, mixture_1d, quad_js, quad_kl
from scipy import integrate
from scipy.special import entr, ndtr
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.neighbors import KernelDensity

from sklearn_divergence import _montecarlo, js_distance, js_divergence, kl_divergence
from sklearn_divergence._models import as_density

METHODS = ["mc", "stratified", "rqmc"]
LOG2 = np.log(2)


def gaussian_kl(mean_0, cov_0, mean_1, cov_1):
    """Textbook closed form, written independently of the package."""
    d = len(mean_0)
    precision_1 = np.linalg.inv(cov_1)
    diff = mean_1 - mean_0
    return 0.5 * (
        np.trace(precision_1 @ cov_0)
        + diff @ precision_1 @ diff
        - d
        + np.linalg.slogdet(cov_1)[1]
        - np.linalg.slogdet(cov_0)[1]
    )


# 1-D pairs with quadrature references: overlapping, lopsided, bimodal.
PAIRS_1D = {
    "overlap": (
        mixture_1d([0.3, 0.7], [-1.0, 1.0], [0.8, 1.2]),
        mixture_1d([0.5, 0.5], [0.0, 2.0], [1.0, 0.7]),
    ),
    "lopsided": (
        mixture_1d([0.9, 0.05, 0.05], [0.0, 3.0, -4.0], [1.0, 0.5, 2.0]),
        mixture_1d([0.6, 0.4], [0.5, -1.0], [1.5, 1.0]),
    ),
    "bimodal_vs_wide": (
        mixture_1d([0.5, 0.5], [-3.0, 3.0], [0.5, 0.5]),
        mixture_1d([1.0], [0.0], [3.0]),
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(PAIRS_1D))
def test_1d_mixtures_against_quadrature(name, method):
    p, q = PAIRS_1D[name]
    for estimate, truth in [
        (kl_divergence, quad_kl(p, q)),
        (js_divergence, quad_js(p, q)),
    ]:
        value, se = estimate(
            p, q, method=method, n_samples=50_000, random_state=0, return_std=True
        )
        assert se < 0.02
        # Separated components make the control variates exact up to tail
        # terms of about 1e-9 that 50 000 points never reach: se can be ~0.
        assert abs(value - truth) < 4.5 * se + 1e-8


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_single_gaussians_against_closed_form(method, covariance_type):
    rng = np.random.default_rng(3)
    d = 4
    means = rng.normal(size=(2, d))
    if covariance_type in ("full", "tied"):
        A = rng.normal(size=(2, d, d))
        covs = A @ A.transpose(0, 2, 1) + d * np.eye(d)
    else:
        covs = rng.uniform(0.5, 2.0, (2, d))
    if covariance_type == "spherical":
        covs = covs[:, 0]

    def model(k):
        stored = {"full": covs[k : k + 1], "tied": covs[k]}.get(
            covariance_type, covs[k : k + 1]
        )
        return make_mixture([1.0], means[k : k + 1], stored, covariance_type)

    def dense(k):
        if covariance_type in ("full", "tied"):
            return covs[k]
        return np.diag(covs[k]) if covariance_type == "diag" else covs[k] * np.eye(d)

    truth = gaussian_kl(means[0], dense(0), means[1], dense(1))
    value, se = kl_divergence(
        model(0),
        model(1),
        method=method,
        n_samples=20_000,
        random_state=1,
        return_std=True,
    )
    if method == "mc":
        assert abs(value - truth) < 4.5 * se
    else:
        # One component each: the integrand is exactly a control variate.
        assert value == pytest.approx(truth, rel=1e-9)


def test_1d_closed_form_formula():
    mu1, s1, mu2, s2 = 0.3, 0.7, -1.1, 1.9
    truth = np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5
    value = kl_divergence(
        mixture_1d([1], [mu1], [s1]), mixture_1d([1], [mu2], [s2]), random_state=0
    )
    assert value == pytest.approx(truth, rel=1e-10)


@pytest.mark.parametrize("method", ["auto", *METHODS])
def test_divergence_from_itself_is_zero(blobs, method):
    p = GaussianMixture(3, random_state=0).fit(blobs[0])
    value, se = kl_divergence(p, p, method=method, random_state=0, return_std=True)
    assert value == 0.0
    assert se == 0.0
    assert js_divergence(p, p, method=method, random_state=0) < 1e-12


@pytest.mark.parametrize("method", METHODS)
def test_js_symmetric_and_bounded(blobs, method):
    p = GaussianMixture(3, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, covariance_type="diag", random_state=0).fit(blobs[1])
    forward, se_forward = js_divergence(
        p, q, method=method, random_state=0, return_std=True
    )
    backward, se_backward = js_divergence(
        q, p, method=method, random_state=1, return_std=True
    )
    assert 0 < forward < LOG2
    assert abs(forward - backward) < 4.5 * np.hypot(se_forward, se_backward)
    bits = js_divergence(p, q, method=method, random_state=0, base=2)
    assert bits == pytest.approx(forward / LOG2, rel=1e-12)
    distance = js_distance(p, q, method=method, random_state=0, base=2)
    assert distance == pytest.approx(np.sqrt(bits), rel=1e-12)


def test_js_of_disjoint_distributions_is_log2():
    p = mixture_1d([1.0], [0.0], [1.0])
    q = mixture_1d([1.0], [200.0], [1.0])
    assert js_divergence(p, q, random_state=0) == pytest.approx(LOG2, abs=1e-12)
    assert js_divergence(p, q, random_state=0, base=2) == pytest.approx(1.0)
    assert js_distance(p, q, random_state=0, base=2) == pytest.approx(1.0)


@pytest.mark.parametrize("method", METHODS)
def test_components_80_sd_apart(method):
    p = mixture_1d([0.5, 0.5], [0.0, 80.0], [1.0, 1.0])
    q = mixture_1d([0.5, 0.5], [0.0, 2.0], [1.0, 1.0])
    truth = quad_kl(p, q)  # about 1550 nats: the far component dominates
    value, se = kl_divergence(
        p, q, method=method, n_samples=20_000, random_state=0, return_std=True
    )
    assert np.isfinite(value) and np.isfinite(se)
    assert abs(value - truth) < 4.5 * se + 1e-9 * truth
    js_value = js_divergence(p, q, method=method, n_samples=20_000, random_state=0)
    assert abs(js_value - quad_js(p, q)) < 0.01


def _quantile_95(method):
    return _montecarlo.T_QUANTILE_95 if method == "rqmc" else 1.959963984540054


# Small samples on purpose: many of these estimates are imprecise enough to
# warn, and the test is about their standard errors.
@pytest.mark.filterwarnings("ignore::sklearn_divergence.LowPrecisionWarning")
@pytest.mark.parametrize("divergence", ["kl", "js"])
@pytest.mark.parametrize(
    ("method", "n_samples"), [("mc", 2000), ("stratified", 2000), ("rqmc", 4096)]
)
def test_standard_errors_are_honest(divergence, method, n_samples):
    """About 95% of the intervals value +- q se contain the truth, q the
    method's 95% quantile: normal, or t with 7 degrees of freedom for rqmc."""
    p, q = PAIRS_1D["lopsided"]
    estimate, truth = {
        "kl": (kl_divergence, quad_kl(p, q)),
        "js": (js_divergence, quad_js(p, q)),
    }[divergence]
    n_seeds = 300
    covered = 0
    for seed in range(n_seeds):
        value, se = estimate(
            p,
            q,
            method=method,
            n_samples=n_samples,
            random_state=seed,
            return_std=True,
        )
        covered += abs(value - truth) <= _quantile_95(method) * se
    # Binomial sd at 95% over 300 seeds is 1.3%.
    assert 0.905 <= covered / n_seeds <= 0.99


def _assert_unbiased_and_honest(estimate, p, q, method, n_samples, truth):
    """Over 300 seeds, 95% intervals cover ``truth`` 90.5% to 99% of the time
    (binomial sd 1.3%), and the mean is within 4 of its standard errors."""
    n_seeds = 300
    runs = np.array(
        [
            estimate(
                p,
                q,
                method=method,
                n_samples=n_samples,
                random_state=seed,
                return_std=True,
            )
            for seed in range(n_seeds)
        ]
    )
    values, ses = runs.T
    covered = np.mean(np.abs(values - truth) <= _quantile_95(method) * ses)
    assert 0.905 <= covered <= 0.99
    assert abs(values.mean() - truth) < 4 * values.std(ddof=1) / np.sqrt(n_seeds)


def _rotated_tied_pair():
    """A tied P (2 components) and a one-component Q in d = 3, rotated, whose
    KL is a 1-D mixture KL (quadrature) plus two Gaussian ones: the means
    differ along the first axis only and the covariances are diagonal
    before the rotation."""
    rotation = np.linalg.qr(np.random.default_rng(7).normal(size=(3, 3)))[0]
    p_variances, q_variances = np.array([1.0, 0.5, 2.0]), np.array([2.0, 1.0, 1.5])
    p = make_mixture(
        [0.3, 0.7],
        np.array([[-1.0, 0, 0], [1.5, 0, 0]]) @ rotation.T,
        rotation @ np.diag(p_variances) @ rotation.T,
        "tied",
    )
    q = make_mixture(
        [1.0],
        np.array([[0.5, 0, 0]]) @ rotation.T,
        (rotation @ np.diag(q_variances) @ rotation.T)[None],
    )
    ratio = p_variances[1:] / q_variances[1:]
    gaussian = 0.5 * np.sum(ratio - 1.0 - np.log(ratio))
    first_axis = quad_kl(
        mixture_1d([0.3, 0.7], [-1.0, 1.5], [1.0, 1.0]),
        mixture_1d([1.0], [0.5], [np.sqrt(2.0)]),
    )
    return p, q, first_axis + gaussian


@pytest.mark.filterwarnings("ignore::sklearn_divergence.LowPrecisionWarning")
@pytest.mark.parametrize(
    ("method", "n_samples"), [("mc", 2000), ("stratified", 2000), ("rqmc", 4096)]
)
def test_conditional_kl_is_unbiased_and_its_standard_errors_honest(method, n_samples):
    # Tied mixtures: KL is sampled in the one dimension that its integrand's
    # log-sum-exps see, the first axis (conditional Monte Carlo), JS in all 3.
    p, q, truth = _rotated_tied_pair()
    sides = {
        integrands: _montecarlo.make_side(
            "p",
            as_density(p, "p", needs_sampling=True),
            as_density(q, "q", needs_sampling=False),
            integrands,
            method,
            n_samples,
            0,
        )
        for integrands in [("kl",), ("js", "js_marginal")]
    }
    assert sides[("kl",)].n_dimensions == 1
    assert sides[("js", "js_marginal")].n_dimensions == 3
    _assert_unbiased_and_honest(kl_divergence, p, q, method, n_samples, truth)


def _spherical_pair_on_a_line():
    """Spherical P and Q (2 components each) in d = 6 whose means lie on one
    random line, and their KL and JS by 2-D quadrature: every density is a
    function of x1, the coordinate along the line, and s = |x|^2 - x1^2,
    which under a component of mean t u and variance v is v times a
    chi-square with d - 1 degrees of freedom."""
    d = 6
    direction = np.random.default_rng(8).normal(size=d)
    direction /= np.linalg.norm(direction)
    parameters = {
        "p": ([0.4, 0.6], [-1.0, 1.0], [1.0, 0.5]),
        "q": ([0.7, 0.3], [0.0, 2.0], [1.5, 0.7]),
    }
    models = {
        name: make_mixture(w, np.outer(t, direction), v, "spherical")
        for name, (w, t, v) in parameters.items()
    }

    # Scalar math: dblquad calls these a million times.
    terms = {
        name: [
            (math.log(w) - 0.5 * d * math.log(2 * math.pi * v), t, 2 * v)
            for w, t, v in zip(*parameters[name], strict=True)
        ]
        for name in parameters
    }

    def log_density(name, x1, s):
        exponents = [c - ((x1 - t) ** 2 + s) / v2 for c, t, v2 in terms[name]]
        top = max(exponents)
        return top + math.log(sum(math.exp(e - top) for e in exponents))

    half = (d - 1) / 2
    log_chi2_normaliser = -half * math.log(2) - math.lgamma(half)

    def expectation(name, integrand):
        total = 0.0
        for w, t, v in zip(*parameters[name], strict=True):
            sd = math.sqrt(v)

            def weighted(c, x1, t=t, sd=sd, v=v):
                log_weight = (
                    -0.5 * ((x1 - t) / sd) ** 2
                    - math.log(sd * math.sqrt(2 * math.pi))
                    + log_chi2_normaliser
                    + (half - 1) * math.log(c)
                    - c / 2
                )
                return math.exp(log_weight) * integrand(x1, v * c)

            value, _ = integrate.dblquad(
                weighted,
                t - 12 * sd,
                t + 12 * sd,
                0.0,
                120.0,  # P(chi-square with 5 degrees of freedom > 120) < 1e-23
                epsabs=1e-10,
                epsrel=1e-10,
            )
            total += w * value
        return total

    def log_m(x1, s):
        log_p, log_q = log_density("p", x1, s), log_density("q", x1, s)
        top = max(log_p, log_q)
        return top + math.log(math.exp(log_p - top) + math.exp(log_q - top)) - LOG2

    kl = expectation(
        "p", lambda x1, s: log_density("p", x1, s) - log_density("q", x1, s)
    )
    js = 0.5 * sum(
        expectation(
            name, lambda x1, s, name=name: log_density(name, x1, s) - log_m(x1, s)
        )
        for name in "pq"
    )
    return models["p"], models["q"], {"kl": kl, "js": js}


@pytest.fixture(scope="module")
def spherical_pair_on_a_line():
    return _spherical_pair_on_a_line()


@pytest.mark.filterwarnings("ignore::sklearn_divergence.LowPrecisionWarning")
@pytest.mark.parametrize("divergence", ["kl", "js"])
@pytest.mark.parametrize(
    ("method", "n_samples"), [("mc", 2000), ("stratified", 2000), ("rqmc", 4096)]
)
def test_radial_coordinates_are_unbiased_and_their_standard_errors_honest(
    spherical_pair_on_a_line, divergence, method, n_samples
):
    # Spherical mixtures whose means lie on a line are sampled in 2
    # dimensions, (y, rho): rho^2 from 5 chi-square degrees of freedom, which
    # rqmc draws from 3 uniforms.
    p, q, truth = spherical_pair_on_a_line
    side = _montecarlo.make_side(
        "p",
        as_density(p, "p", needs_sampling=True),
        as_density(q, "q", needs_sampling=True),
        ("js", "js_marginal"),
        method,
        n_samples,
        0,
    )
    assert side.n_dimensions == 2 and side.standard.n_uniforms == 4
    estimate = {"kl": kl_divergence, "js": js_divergence}[divergence]
    _assert_unbiased_and_honest(estimate, p, q, method, n_samples, truth[divergence])


def _quad_side_integrals(p, q):
    """Per side, the quadrature of both JS integrands of _montecarlo (1-D)."""

    def side(s, t, integrand):
        def function(x):
            log_s, log_t = log_pdf_1d(s, x), log_pdf_1d(t, x)
            log_m = np.logaddexp(log_s, log_t)
            if integrand == "js":
                value = np.log(2) + log_s - log_m
            else:
                r, r_other = np.exp(log_s - log_m), np.exp(log_t - log_m)
                value = np.log(2) - entr(r) - entr(r_other)
            return np.exp(log_s) * value

        return _quad(function, [s, t])

    return {
        (key, integrand): side(s, t, integrand)
        for key, (s, t) in {"p": (p, q), "q": (q, p)}.items()
        for integrand in ("js", "js_marginal")
    }


def _js_sides(p, q, method, entropy):
    """The engine's two sides of a JS estimate, with both JS integrands."""
    return [
        _montecarlo.make_side(
            key,
            as_density(s, key, needs_sampling=True),
            as_density(t, key, needs_sampling=False),
            ("js", "js_marginal"),
            method,
            20_000,
            entropy,
        )
        for key, (s, t) in {"p": (p, q), "q": (q, p)}.items()
    ]


@pytest.mark.parametrize("pair", list(PAIRS_1D))
@pytest.mark.parametrize("method", METHODS)
def test_both_js_integrands_match_quadrature_per_side(pair, method):
    """Each side's two JS integrands: the plain one averages to KL(s || m), the
    label-marginalised one to another value, and both sides' sums give 2 JS."""
    p, q = PAIRS_1D[pair]
    expected = _quad_side_integrals(p, q)
    truth = quad_js(p, q)
    for integrand in ("js", "js_marginal"):
        total = expected["p", integrand] + expected["q", integrand]
        assert total == pytest.approx(2 * truth, rel=1e-8, abs=1e-12)
    sides = _js_sides(p, q, method, entropy=5)
    for side, result in zip(
        sides, _montecarlo.estimate_sides(sides, n_jobs=1), strict=True
    ):
        for integrand in ("js", "js_marginal"):
            value, std_error = result.value(integrand)
            assert abs(value - expected[side.key, integrand]) < 4.5 * std_error


@pytest.mark.parametrize("pair", list(PAIRS_1D))
@pytest.mark.parametrize("method", METHODS)
def test_js_combination_is_no_worse_than_either_integrand(pair, method):
    p, q = PAIRS_1D[pair]
    side_p, side_q = _montecarlo.estimate_sides(
        _js_sides(p, q, method, entropy=3), n_jobs=1
    )
    _, combined = _montecarlo.js_estimate(side_p, side_q)
    for integrand in ("js", "js_marginal"):
        alone = 0.5 * np.hypot(side_p.value(integrand)[1], side_q.value(integrand)[1])
        assert combined <= alone * (1 + 1e-12)


@pytest.mark.parametrize("method", ["auto", *METHODS])
@pytest.mark.parametrize("divergence", [kl_divergence, js_divergence])
def test_bit_identical_across_n_jobs(blobs, method, divergence):
    p = GaussianMixture(3, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, covariance_type="spherical", random_state=0).fit(blobs[1])
    results = [
        divergence(
            p,
            q,
            method=method,
            n_samples=70_000,
            random_state=7,
            n_jobs=n_jobs,
            return_std=True,
        )
        for n_jobs in (1, 2, -1)
    ]
    assert results[0] == results[1] == results[2]


def test_parallel_config_backend_is_honoured(blobs):
    p = GaussianMixture(2, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, random_state=0).fit(blobs[1])
    expected = kl_divergence(p, q, n_samples=40_000, random_state=3)
    with joblib.parallel_config(backend="threading", n_jobs=2):
        assert kl_divergence(p, q, n_samples=40_000, random_state=3) == expected


def test_random_state_types(blobs):
    p = GaussianMixture(2, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, random_state=0).fit(blobs[1])

    def run(random_state):
        return kl_divergence(p, q, n_samples=5000, random_state=random_state)

    assert run(11) == run(11)
    assert run(11) != run(12)
    assert run(np.random.RandomState(5)) == run(np.random.RandomState(5))
    assert run(np.random.default_rng(5)) == run(np.random.default_rng(5))
    generator = np.random.default_rng(5)
    assert run(generator) != run(generator)  # the generator is consumed
    np.random.seed(9)  # noqa: NPY002 (None means the global RandomState)
    first = run(None)
    np.random.seed(9)  # noqa: NPY002 (None means the global RandomState)
    assert run(None) == first


def test_bayesian_mixture_against_same_plug_in_gaussian_mixture(blobs):
    bayes = BayesianGaussianMixture(n_components=3, max_iter=500, random_state=0).fit(
        blobs[0]
    )
    plug_in = make_mixture(bayes.weights_, bayes.means_, bayes.covariances_)
    for method in ["auto", *METHODS]:
        value, se = kl_divergence(
            bayes, plug_in, method=method, random_state=0, return_std=True
        )
        assert abs(value) <= max(4.5 * se, 1e-12)
    # The snippet's score_samples-based estimate is biased here.
    X = bayes.sample(50_000)[0]
    snippet = np.mean(bayes.score_samples(X) - plug_in.score_samples(X))
    assert abs(snippet) > 1e-3


def test_kernel_density_models(blobs):
    p = KernelDensity(bandwidth=0.5).fit(blobs[0][:200])
    q = GaussianMixture(2, random_state=0).fit(blobs[1])
    value, se = kl_divergence(p, q, random_state=0, return_std=True)
    reference, reference_se = kl_divergence(
        p, q, method="mc", n_samples=400_000, random_state=1, return_std=True
    )
    assert abs(value - reference) < 4.5 * np.hypot(se, reference_se)
    assert se < reference_se


def test_generic_estimator_fallback(blobs):
    """A tophat KDE is not a Gaussian mixture: sample + score_samples are used."""
    p = KernelDensity(kernel="tophat", bandwidth=2.0).fit(blobs[0][:100])
    q = GaussianMixture(2, random_state=0).fit(blobs[1])
    first = kl_divergence(p, q, n_samples=20_000, random_state=0, return_std=True)
    assert first == kl_divergence(
        p, q, n_samples=20_000, random_state=0, return_std=True
    )
    assert first != kl_divergence(
        p, q, n_samples=20_000, random_state=1, return_std=True
    )
    # q has no support where the Gaussian mixture puts mass: KL is infinite.
    assert kl_divergence(q, p, n_samples=5_000, random_state=0) == np.inf
    value, se = js_divergence(p, q, n_samples=20_000, random_state=0, return_std=True)
    assert 0 < value < LOG2 and se > 0


def test_generic_estimator_with_random_state_param(blobs):
    """A duck-typed wrapper goes through the generic path, reseeded on a copy."""

    class OpaqueDensity:
        def __init__(self, model):
            self.model = model
            self.random_state = 0
            self.fitted_ = True

        def get_params(self, deep=True):
            return {"random_state": self.random_state}

        def sample(self, n_samples):
            model = copy.copy(self.model)
            model.random_state = self.random_state
            return model.sample(n_samples)

        def score_samples(self, X):
            return self.model.score_samples(X)

    model = GaussianMixture(2, random_state=0).fit(blobs[0])
    q = GaussianMixture(2, random_state=0).fit(blobs[1])
    opaque = OpaqueDensity(model)
    value, se = kl_divergence(opaque, q, random_state=0, return_std=True)
    exact, exact_se = kl_divergence(model, q, random_state=0, return_std=True)
    assert abs(value - exact) < 4.5 * np.hypot(se, exact_se)
    assert opaque.random_state == 0  # the user's object is untouched


def test_user_estimators_are_not_mutated(blobs):
    p = GaussianMixture(3, random_state=0).fit(blobs[0])
    q = BayesianGaussianMixture(n_components=2, random_state=0).fit(blobs[1])
    before = pickle.dumps((p, q))
    kl_divergence(p, q, random_state=0)
    js_divergence(p, q, random_state=0, n_jobs=2)
    assert pickle.dumps((p, q)) == before


def test_peak_memory_does_not_grow_with_n_samples():
    import tracemalloc

    rng = np.random.default_rng(0)
    d = 10
    p = make_mixture([0.5, 0.5], rng.normal(size=(2, d)), np.stack([np.eye(d)] * 2))
    q = make_mixture([1.0], rng.normal(size=(1, d)), np.eye(d)[None])
    peaks = []
    for n_samples in (200_000, 2_000_000):
        tracemalloc.start()
        kl_divergence(p, q, method="mc", n_samples=n_samples, random_state=0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # Ten times the samples, not ten times the memory: fixed chunks bound it.
    assert peaks[1] < 1.2 * peaks[0]
    assert peaks[1] < 32 * 2**20


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize(
    "method", ["auto", "stratified", "rqmc", "matched", "variational_upper"]
)
def test_zero_weight_component_is_dropped(method, covariance_type):
    # A weight of exactly 0 leaves the density unchanged, so every method must
    # give what it gives for the mixture without that component (it gave NaN,
    # and variational_upper KL(P || P) = 707.7).
    d = 2
    means = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]])
    covariances = {
        "full": np.array([[[1.0, 0.3], [0.3, 0.5]]] * 3),
        "tied": np.array([[1.0, 0.3], [0.3, 0.5]]),
        "diag": np.array([[1.0, 0.5], [0.7, 2.0], [0.4, 0.4]]),
        "spherical": np.array([1.0, 0.6, 2.0]),
    }[covariance_type]
    kept = covariances if covariance_type == "tied" else covariances[:2]
    with_zero = make_mixture([0.7, 0.3, 0.0], means, covariances, covariance_type)
    without = make_mixture([0.7, 0.3], means[:2], kept, covariance_type)
    q = make_mixture([1.0], np.ones((1, d)), np.eye(d)[None])
    options = dict(method=method, n_samples=4096, random_state=0)
    # 'matched' has no JS version.
    divergences = (
        [kl_divergence] if method == "matched" else [kl_divergence, js_divergence]
    )
    for divergence in divergences:
        assert divergence(with_zero, q, **options) == divergence(without, q, **options)
        assert divergence(q, with_zero, **options) == divergence(q, without, **options)
        assert divergence(with_zero, with_zero, **options) == pytest.approx(
            0, abs=1e-12
        )


def test_rqmc_replicates_are_digitally_shifted_nets():
    # Each replicate's points of a component are a digital shift of one
    # scrambled Sobol' net: every coordinate has exactly one point in each
    # interval [k / n, (k + 1) / n), and no two replicates share a point.
    rng = np.random.default_rng(0)
    p = make_mixture([1.0], rng.normal(size=(1, 3)), [np.eye(3)])
    # Two covariances in q: KL is sampled in all 3 dimensions.
    q = make_mixture([0.5, 0.5], rng.normal(size=(2, 3)), [2 * np.eye(3), np.eye(3)])
    n = 1024
    side = _montecarlo.make_side(
        "p",
        as_density(p, "p", needs_sampling=True),
        as_density(q, "q", needs_sampling=False),
        ("kl",),
        "rqmc",
        _montecarlo.N_REPLICATES * n,
        7,
    )
    replicates = tuple(range(4))
    ((Z, strata, cells),) = _montecarlo._standard_normal_blocks(side, replicates, 0, n)
    assert np.array_equal(strata, np.zeros(4 * n))
    uniforms = [ndtr(Z[cells == j]) for j in replicates]
    for u in uniforms:
        cells_hit = np.sort(np.floor(u * n), axis=0)
        assert np.array_equal(cells_hit, np.tile(np.arange(n)[:, None], (1, 3)))
    for first, second in itertools.combinations(uniforms, 2):
        assert not np.isin(first, second).any()


def test_leave_one_out_merges_match_direct_merges():
    rng = np.random.default_rng(0)
    replicates = []
    for _ in range(6):
        x = rng.normal(size=(40, 3))
        deviations = x - x.mean(axis=0)
        replicates.append(
            _montecarlo.Moments(
                np.array([40]),
                x.mean(axis=0)[None],
                (deviations.T @ deviations)[None],
                np.zeros(1, dtype=bool),
            )
        )
    for left_out, merged in enumerate(_montecarlo._leave_one_out(replicates)):
        others = [m for i, m in enumerate(replicates) if i != left_out]
        direct = others[0]
        for moments in others[1:]:
            direct = direct.merge(moments)
        assert merged.count == direct.count == 200
        np.testing.assert_allclose(merged.mean, direct.mean, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(merged.comoment, direct.comoment, rtol=1e-13)
