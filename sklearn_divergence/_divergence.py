"""Public KL and JS divergences between fitted density estimators."""

import math
import warnings

import numpy as np

from ._approximations import (
    APPROXIMATIONS,
    JS_APPROXIMATIONS,
    approximate_js,
    approximate_kl,
)
from ._closed_form import kl_from_cholesky
from ._gaussian import GaussianMixtureParams
from ._models import as_density_pair, require_mixtures
from ._montecarlo import MC_METHODS, estimate_sides, make_side, min_samples
from ._validation import (
    check_flag,
    check_method,
    check_n_jobs,
    check_n_samples,
    log_base,
    seed_entropy,
)

METHODS = ("auto", "closed", *MC_METHODS, *APPROXIMATIONS)

_LOG_2 = math.log(2.0)
# A standard error above this fraction of the value triggers a warning.
_LOW_PRECISION = 0.1


class LowPrecisionWarning(UserWarning):
    """A Monte Carlo estimate whose standard error is over 10% of its value."""


def _side_method(method, density, name, n_samples):
    """Resolve the method for sampling ``density``; fail before any work."""
    if not isinstance(density, GaussianMixtureParams):
        if method in ("stratified", "rqmc"):
            raise ValueError(
                f"method={method!r} needs {name} to be a Gaussian mixture "
                "(GaussianMixture, BayesianGaussianMixture or KernelDensity with "
                f"kernel='gaussian'); use method='mc' for {name}."
            )
        return "mc"
    if method == "auto":
        feasible = [
            m
            for m in ("rqmc", "stratified")
            if n_samples >= min_samples(m, density.n_components)
        ]
        return feasible[0] if feasible else "mc"
    needed = min_samples(method, density.n_components)
    if n_samples < needed:
        raise ValueError(
            f"method={method!r} needs n_samples >= {needed} for {name} with "
            f"{density.n_components} components; got n_samples={n_samples}."
        )
    return method


def _is_single_gaussian(density):
    return isinstance(density, GaussianMixtureParams) and density.n_components == 1


def check_density_for_method(method, density, name, n_samples, *, sampled):
    """Raise, before any work, if ``method`` cannot be used with ``density``.

    ``sampled`` says whether points are drawn from ``density``.
    """
    if method in APPROXIMATIONS:
        require_mixtures(f"method={method!r}", **{name: density})
    elif method == "closed" and not _is_single_gaussian(density):
        components = getattr(density, "n_components", "an unknown number of")
        raise ValueError(
            "method='closed' needs both models to be single Gaussians "
            f"(n_components=1); {name} has {components} components."
        )
    elif sampled:
        _side_method(method, density, name, n_samples)


def _closed_form_kl(density_p, density_q):
    L_p, L_q = density_p.covariance_cholesky(0), density_q.covariance_cholesky(0)
    return kl_from_cholesky(density_p.means[0], L_p, density_q.means[0], L_q)


def check_method_for(method, divergences):
    """Raise unless ``method`` can compute every one of ``divergences``."""
    if divergences <= {"kl", "kl_reverse"}:
        return
    if method == "closed":
        raise ValueError(
            "There is no closed form for the Jensen-Shannon divergence between "
            "Gaussians; use method='rqmc' (or 'auto')."
        )
    if method in APPROXIMATIONS and method not in JS_APPROXIMATIONS:
        raise ValueError(
            f"method={method!r} is not available for the Jensen-Shannon "
            "divergence: it matches each component of P to itself in (P + Q) / 2 "
            "and always gives log 2. Valid approximations for JS are "
            f"{', '.join(repr(m) for m in JS_APPROXIMATIONS)}."
        )


# The KL that the integrand "kl" gives on each side: sampling P gives KL(P || Q).
_KL_OF_SIDE = {"p": "kl", "q": "kl_reverse"}


def divergences_in_nats(
    density_p,
    density_q,
    divergences,
    method,
    n_samples,
    entropy,
    n_jobs,
    names=("p", "q"),
    *,
    warn=True,
):
    """Estimate several of 'kl', 'kl_reverse' and 'js' in one pass per side.

    The arguments must be validated already, except for the fit between the
    method and the densities; ``names`` name the densities in errors. Returns
    {name: (value, std_error)} in nats, not yet clipped to the valid range.
    ``warn=False`` leaves out the LowPrecisionWarning, for callers whose
    estimates are replicates of a resampling scheme.
    """
    sampled = {"p": bool(divergences - {"kl_reverse"}), "q": divergences != {"kl"}}
    for key, density, name in zip("pq", (density_p, density_q), names, strict=True):
        check_density_for_method(method, density, name, n_samples, sampled=sampled[key])
    pairs = {"kl": (density_p, density_q), "kl_reverse": (density_q, density_p)}
    if method in APPROXIMATIONS:
        return {
            name: (
                approximate_js(density_p, density_q, method)
                if name == "js"
                else approximate_kl(*pairs[name], method),
                0.0,
            )
            for name in divergences
        }
    results = {}
    both_single = _is_single_gaussian(density_p) and _is_single_gaussian(density_q)
    if method == "closed" or (method == "auto" and both_single):
        results = {
            name: (_closed_form_kl(*pairs[name]), 0.0) for name in divergences - {"js"}
        }

    sides = []
    for key, name, (sampled, other) in zip(
        "pq", names, (pairs["kl"], pairs["kl_reverse"]), strict=True
    ):
        integrands = tuple(
            integrand
            for integrand, divergence in (("kl", _KL_OF_SIDE[key]), ("js", "js"))
            if divergence in divergences and divergence not in results
        )
        if integrands:
            side_method = _side_method(method, sampled, name, n_samples)
            sides.append(
                make_side(key, sampled, other, integrands, side_method, n_samples)
            )
    estimates = {}
    for side, (values, std_errors) in zip(
        sides, estimate_sides(sides, entropy, n_jobs), strict=True
    ):
        for integrand, value, std_error in zip(
            side.integrands, values, std_errors, strict=True
        ):
            estimates[side.key, integrand] = value, std_error
    for key, name in _KL_OF_SIDE.items():
        if (key, "kl") in estimates:
            results[name] = estimates[key, "kl"]
    if "js" in divergences:
        (value_p, se_p), (value_q, se_q) = estimates["p", "js"], estimates["q", "js"]
        results["js"] = 0.5 * (value_p + value_q), 0.5 * np.hypot(se_p, se_q)
    for name, (value, std_error) in results.items():
        if warn and std_error > _LOW_PRECISION * abs(value):
            warnings.warn(
                f"The standard error of {name} ({std_error:.2g} nats) is more than "
                f"{_LOW_PRECISION:.0%} of its value ({value:.2g} nats); increase "
                "n_samples for a more precise estimate.",
                LowPrecisionWarning,
                stacklevel=3,
            )
    return results


def _estimate(
    p, q, divergence, method, n_samples, base, random_state, n_jobs, return_std
):
    """Validate everything, then estimate; returns the value in the unit, with
    its standard error if ``return_std``.
    """
    return_std = check_flag(return_std, "return_std")
    method = check_method(method, METHODS)
    name = "js" if divergence == "js_distance" else divergence
    check_method_for(method, {name})
    n_samples = check_n_samples(n_samples)
    unit = log_base(base)
    check_n_jobs(n_jobs)
    density_p, density_q = as_density_pair(p, q, sample_q=name == "js")
    entropy = seed_entropy(random_state)
    value, std_error = divergences_in_nats(
        density_p, density_q, {name}, method, n_samples, entropy, n_jobs
    )[name]
    result = in_unit(divergence, value, std_error, unit)
    return result if return_std else result[0]


def in_unit(divergence, value, std_error, unit):
    """Clip a value in nats to its valid range and convert it to the unit.

    Returns Python floats.
    """
    value, std_error = float(value), float(std_error)
    if divergence in _KL_OF_SIDE.values():
        return max(value, 0.0) / unit, std_error / unit
    value = min(max(value, 0.0), _LOG_2)
    if divergence == "js_distance":
        return _square_root(value / unit, std_error / unit)
    return value / unit, std_error / unit


def _square_root(value, std_error):
    """sqrt of an estimate with its delta-method standard error se / (2 sqrt v).

    Near 0 the delta method blows up; sqrt(v + se) - sqrt(v) <= sqrt(se) caps it.
    """
    root = math.sqrt(value)
    cap = math.sqrt(std_error)
    return root, (min(std_error / (2 * root), cap) if root > 0 else cap)


_PARAMETERS = """\
p, q : fitted estimator
        A fitted GaussianMixture or BayesianGaussianMixture (its plug-in
        density from ``weights_``, ``means_`` and ``covariances_``), a
        fitted KernelDensity with the gaussian kernel, or any fitted
        estimator with ``sample`` and ``score_samples`` (plain Monte Carlo).
    method : str, default='auto'
        - 'closed': KL only, when both models are single Gaussians: the exact
          value from :func:`gaussian_kl_divergence`, standard error 0.
        - 'mc': i.i.d. sampling, the plain Monte Carlo estimate.
        - 'stratified': each mixture component gets its exact share of the
          points, plus control variates within each component.
        - 'rqmc': 'stratified' with scrambled Sobol' points in place of
          pseudo-random ones; 16 independent scramblings give the error.
          Each component's share per scrambling is a power of two, so
          between n_samples / 2 and n_samples points are used.
        - 'variational', 'variational_upper', 'product', 'matched',
          'gaussian', 'unscented': deterministic approximations for Gaussian
          mixtures, described in the Notes of :func:`kl_divergence`; their
          std_error is 0 (no sampling), which says nothing of their bias.
          JS accepts all but 'matched', applied to KL(P || M) and KL(Q || M).
        - 'auto': 'closed' for a KL between single Gaussians; otherwise
          'rqmc' for Gaussian mixtures when n_samples allows (16 points per
          component), else 'stratified', else 'mc'.
    n_samples : int, default=100_000
        Points drawn from each sampled distribution (at least 2).
    base : float, default=None
        Logarithm base of the result: None for nats, 2 for bits.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the draws. An int gives the same result on every call, for any
        ``n_jobs``.
    n_jobs : int, default=None
        Jobs to run chunks of samples in parallel. ``None`` means 1 unless in
        a :func:`joblib.parallel_config` context; ``-1`` means all processors.
    return_std : bool, default=False
        Also return the Monte Carlo standard error, in the same unit."""


def kl_divergence(
    p,
    q,
    *,
    method="auto",
    n_samples=100_000,
    base=None,
    random_state=None,
    n_jobs=None,
    return_std=False,
):
    """Kullback-Leibler divergence KL(P || Q) between two fitted densities.

    KL(P || Q) = E_P[log p(x) - log q(x)], estimated by Monte Carlo from points
    drawn from P. Everything is computed in log space, so distant components
    give finite values where density ratios would underflow.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    kl : float
        The estimate, clipped at 0 (KL is never negative). ``inf`` if Q has
        zero density where P drew a point.
    std_error : float
        Only when ``return_std=True``: the standard error of ``kl``.

    See Also
    --------
    js_divergence : The symmetric, bounded Jensen-Shannon divergence.

    Notes
    -----
    For Gaussian mixtures the points are drawn from the model parameters with
    the package's own generators, never with ``GaussianMixture.sample`` (which
    reseeds itself on every call). For a ``BayesianGaussianMixture`` the
    plug-in density from ``weights_``, ``means_`` and ``covariances_`` is
    used, the density that its ``sample`` draws from, rather than
    ``score_samples``, which includes variational expectations.

    Within component a of P the weighted log-densities of P's component a and
    of Q's two best-matched components have exactly known means, and are
    regressed out of the integrand as control variates (Chen, Hershey, Olsen
    & Yashchin, ICASSP 2008; matching as in Goldberger et al., ICCV 2003).

    The standard error of 'rqmc' comes from 16 independent scramblings, so
    it has 15 degrees of freedom: value ± 2.13 std_error is a 95% interval
    (± 1.96 std_error covers about 93%). With well-separated components the
    control variates can be exact up to tail terms no sample reaches, and the
    standard error is then close to 0.

    Cost: ``n_samples`` evaluations of both log-densities, each O(K d^2) for
    'full' covariances and O(K d) for the other types.

    The deterministic approximations (Hershey & Olsen, ICASSP 2007) need
    no sampling. With D_ab = KL(f_a || g_b), z_aa' = int f_a f_a' and
    t_ab = int f_a g_b, all computed once, vectorised over component pairs:

    - 'variational': sum_a pi_a log(sum_a' pi_a' exp(-D_aa') /
      sum_b omega_b exp(-D_ab)). Exact for single Gaussians and for P = Q;
      usually the most accurate deterministic value, but not a bound and it
      can be negative (the result is clipped at 0). O((K_p + K_q) K_p d^2).
    - 'variational_upper': the variational upper bound
      sum_ab phi_ab [log(phi_ab / psi_ab) + D_ab] >= KL, with phi and psi
      from Hershey & Olsen's fixed-point iteration, stopped when it moves
      less than 1e-6 relative over 10 steps (at most 300); every iterate is a
      valid bound. Exact for single Gaussians; loose when components overlap.
    - 'product': sum_a pi_a log(sum_a' pi_a' z_aa' / sum_b omega_b t_ab),
      from Gaussian products. Exact for P = Q but not for single Gaussians;
      typically underestimates. One batched Cholesky of K_p (K_p + K_q)
      summed covariances, O(K_p (K_p + K_q) d^3).
    - 'matched': Goldberger et al.'s matched bound: each f_a is matched to
      m(a) = argmin_b D_ab - log omega_b and the value is
      sum_a pi_a [D_a,m(a) + log(pi_a / omega_m(a))]. Cheap and accurate
      when components are well separated; poor when they overlap.
    - 'gaussian': the closed form between the single Gaussians with each
      mixture's mean and covariance. O(K d^2 + d^3); accurate only when each
      mixture is nearly Gaussian.
    - 'unscented': sum_a pi_a (1/2d) sum_k [log f - log g](mu_a +- sqrt(d)
      L_a[:, k]) with L_a L_a^T = Sigma_a: 2d sigma points per component of
      P. Exact for single Gaussians (the integrand is quadratic); good when
      log f - log g is smooth over each component. O(K_p d (K_p + K_q) d^2).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import kl_divergence
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (500, 2)))
    >>> q = GaussianMixture(2, random_state=0).fit(rng.normal(1, 1, (500, 2)))
    >>> kl, se = kl_divergence(p, q, random_state=0, return_std=True)
    >>> print(f"{{kl:.2f}} nats, standard error below 1e-3: {{se < 1e-3}}")
    1.10 nats, standard error below 1e-3: True
    >>> kl_divergence(p, p, random_state=0)
    0.0
    """
    return _estimate(
        p, q, "kl", method, n_samples, base, random_state, n_jobs, return_std
    )


def js_divergence(
    p,
    q,
    *,
    method="auto",
    n_samples=100_000,
    base=None,
    random_state=None,
    n_jobs=None,
    return_std=False,
):
    """Jensen-Shannon divergence between two fitted densities.

    JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with M = (P + Q) / 2. Points are
    drawn from both P and Q, and the integrand
    log 2 + log p - logaddexp(log p, log q) is at most log 2, so the estimate
    is well behaved even for distant distributions.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    js : float
        The estimate, clipped to [0, log 2] nats ([0, 1] bit).
    std_error : float
        Only when ``return_std=True``: the standard error of ``js``.

    See Also
    --------
    js_distance : Its square root, a metric.
    kl_divergence : The asymmetric Kullback-Leibler divergence.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import js_divergence
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (500, 2)))
    >>> q = GaussianMixture(2, random_state=0).fit(rng.normal(1, 1, (500, 2)))
    >>> js = js_divergence(p, q, base=2, random_state=0)
    >>> print(f"{{js:.3f}} bits")
    0.320 bits
    """
    return _estimate(
        p, q, "js", method, n_samples, base, random_state, n_jobs, return_std
    )


def js_distance(
    p,
    q,
    *,
    method="auto",
    n_samples=100_000,
    base=None,
    random_state=None,
    n_jobs=None,
    return_std=False,
):
    """Jensen-Shannon distance: the square root of the JS divergence, a metric.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    distance : float
        sqrt(JS(P, Q)), in [0, sqrt(log 2)] for nats and [0, 1] for bits.
    std_error : float
        Only when ``return_std=True``: the delta-method standard error
        se_JS / (2 sqrt(JS)), capped at sqrt(se_JS) near 0 where the delta
        method breaks down.

    See Also
    --------
    js_divergence : The divergence itself.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import js_distance
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (500, 2)))
    >>> q = GaussianMixture(2, random_state=0).fit(rng.normal(1, 1, (500, 2)))
    >>> print(f"{{js_distance(p, q, base=2, random_state=0):.3f}}")
    0.566
    """
    return _estimate(
        p, q, "js_distance", method, n_samples, base, random_state, n_jobs, return_std
    )


for _function in (kl_divergence, js_divergence, js_distance):
    _function.__doc__ = _function.__doc__.format(parameters=_PARAMETERS)
