"""Public KL and JS divergences between fitted density estimators."""

from ._models import as_density_pair
from ._request import (
    divergences_in_nats,
    estimated,
    in_unit,
    validate_params,
)

# The keyword parameters of kl_divergence, js_divergence and js_distance.
_PARAMETER_NAMES = (
    "method",
    "n_samples",
    "base",
    "random_state",
    "n_jobs",
    "return_std",
)


def _estimate(p, q, divergence, arguments):
    """Validate everything, then estimate; returns the value in the unit, with
    its standard error if ``return_std``. ``arguments`` are the public
    function's, p and q included.
    """
    params = {name: arguments[name] for name in _PARAMETER_NAMES}
    valid = validate_params({"divergence": divergence, **params})
    name = estimated(divergence)
    density_p, density_q = as_density_pair(p, q, sample_q=name == "js")
    value, std_error = divergences_in_nats(
        density_p,
        density_q,
        {name},
        valid.method,
        valid.n_samples,
        valid.random_state,
        valid.n_jobs,
    )[name]
    result = in_unit(divergence, value, std_error, valid.base)
    return result if valid.return_std else result[0]


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
          pseudo-random ones; 8 independent digital shifts give the error.
          Each component's share per replicate is a power of two, so
          between n_samples / 2 and n_samples points are used.
        - 'variational', 'variational_upper', 'product', 'matched',
          'gaussian', 'unscented': deterministic approximations for Gaussian
          mixtures, described in the Notes of :func:`kl_divergence`; their
          std_error is 0 (no sampling), which says nothing of their bias.
          JS accepts all but 'matched', applied to KL(P || M) and KL(Q || M).
        - 'auto': 'closed' for a KL between single Gaussians; otherwise
          'rqmc' for Gaussian mixtures when n_samples allows (8 points per
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

    The standard error of 'rqmc' comes from 8 independent replicates, so
    it has 7 degrees of freedom: value ± 2.36 std_error is a 95% interval
    (± 1.96 std_error covers about 91%). With well-separated components the
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
    return _estimate(p, q, "kl", locals())


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
    drawn from both P and Q, and two integrands, each at most log 2, are
    averaged over them: log 2 + log p - logaddexp(log p, log q) (and its mirror
    on Q's points), and log 2 - H_b(p / (p + q)), with H_b the binary entropy.
    The second treats the points of both samples as draws from M and averages
    over which model each came from; it varies several times less. Their
    combination with the smallest estimated variance is returned, so the
    estimate is well behaved even for distant distributions.

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
    return _estimate(p, q, "js", locals())


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
    return _estimate(p, q, "js_distance", locals())


for _function in (kl_divergence, js_divergence, js_distance):
    _function.__doc__ = _function.__doc__.format(parameters=_PARAMETERS)
