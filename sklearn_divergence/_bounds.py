"""Guaranteed bounds on KL and JS, and the closed-form Cauchy-Schwarz divergence."""

import numpy as np
from scipy.special import logsumexp

from ._approximations import (
    MAX_MATRIX_PAIRS,
    equal_mixture,
    log_kernel_sums,
    log_overlap_sums,
    variational_upper_bound,
)
from ._gaussian import pairwise_kl
from ._models import as_density_pair, require_mixtures
from ._validation import log_base

_LOG_2 = np.log(2.0)


def _expected_log_bounds(p, q):
    """Per component a of p: bounds on E_{p_a}[log q], shape (K_p,) each.

    lower: log sum_b w_b exp(-KL(p_a || q_b)) - H(p_a)   (logsumexp is convex)
    upper: log sum_b w_b int p_a q_b                      (log is concave)
    """
    return log_kernel_sums(p, q) - p.entropies, log_overlap_sums(p, q)


def _kl_bounds_nats(p, q):
    self_lower, self_upper = _expected_log_bounds(p, p)
    cross_lower, cross_upper = _expected_log_bounds(p, q)
    lower = max(p.weights @ (self_lower - cross_upper), 0.0)
    upper = p.weights @ (self_upper - cross_lower)
    # The variational upper bound is guaranteed too; keep the tighter one. Its
    # iteration holds whole K_p x K_q matrices, so above MAX_MATRIX_PAIRS pairs
    # the bound above stands alone.
    if p.n_components * q.n_components <= MAX_MATRIX_PAIRS:
        divergences = pairwise_kl(p, q)
        upper = min(upper, variational_upper_bound(p.weights, q.weights, divergences))
    # Where the bounds meet (P = Q), rounding can put the upper one below.
    return lower, max(upper, lower)


def kl_bounds(p, q, *, base=None):
    """Guaranteed lower and upper bounds on KL(P || Q) between Gaussian mixtures.

    Parameters
    ----------
    p, q : fitted estimator
        Fitted GaussianMixture or BayesianGaussianMixture (plug-in density),
        or KernelDensity with the gaussian kernel.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    lower, upper : float
        lower <= KL(P || Q) <= upper, always; lower is clipped at 0.

    Raises
    ------
    ValueError
        If a model is not a Gaussian mixture or the numbers of features differ.

    See Also
    --------
    kl_divergence : Estimates within the bounds, with a standard error.
    js_bounds : The same for the Jensen-Shannon divergence.

    Notes
    -----
    In the style of Durrieu, Thiran & Kelly (ICASSP 2012). Write f = sum_a
    pi_a f_a for P, g = sum_b omega_b g_b for Q, D_ab = KL(f_a || g_b),
    H_a the entropy of f_a and t_ab = int f_a g_b = N(mu_a; nu_b, Sigma_a +
    Lambda_b). Then KL = sum_a pi_a (E_{f_a}[log f] - E_{f_a}[log g]), and
    each expectation is bounded on both sides:

    *Upper bound on E_{f_a}[log g].* log is concave, so by Jensen's
    inequality E_{f_a}[log g] <= log E_{f_a}[g] = log sum_b omega_b t_ab.

    *Lower bound on E_{f_a}[log g].* log g(x) = logsumexp_b(log omega_b +
    log g_b(x)) and logsumexp is convex, so by Jensen's inequality
    E_{f_a}[log g] >= logsumexp_b(log omega_b + E_{f_a}[log g_b]). And
    E_{f_a}[log g_b] = -H_a - D_ab exactly, so E_{f_a}[log g] >=
    log sum_b omega_b exp(-D_ab) - H_a.

    The same two inequalities hold with f in place of g. Subtracting
    gives

        lower = sum_a pi_a [log sum_a' pi_a' exp(-D_aa') - H_a
                            - log sum_b omega_b t_ab],
        upper = sum_a pi_a [log sum_a' pi_a' z_aa' + H_a
                            - log sum_b omega_b exp(-D_ab)],

    with z_aa' = int f_a f_a'. KL >= 0 lets the lower bound be clipped at 0.
    The upper bound is then replaced by Hershey & Olsen's variational upper
    bound when that is smaller. That bound is also guaranteed: by the
    log-sum inequality, sum_ab phi_ab [log(phi_ab / psi_ab) + D_ab] >= KL for
    any phi, psi >= 0 with sum_b phi_ab = pi_a and sum_a psi_ab = omega_b,
    and each iterate satisfies those constraints.

    All terms are closed form. Cost: O(K_p (K_p + K_q) d^3) time; the
    pairwise terms are computed in blocks, so memory stays bounded (tens of
    MiB of work at a time) however many components there are. The
    variational bound's iteration holds four K_p x K_q matrices, so it is
    used only up to 2**23 pairs (256 MiB); above that (a KDE of a few
    thousand points against another, or in :func:`js_bounds`) the upper
    bound is the Jensen one alone, still guaranteed but looser.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import kl_bounds, kl_divergence
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (500, 2)))
    >>> q = GaussianMixture(2, random_state=0).fit(rng.normal(1, 1, (500, 2)))
    >>> lower, upper = kl_bounds(p, q)
    >>> bool(lower <= kl_divergence(p, q, random_state=0) <= upper)
    True
    """
    unit = log_base(base)
    density_p, density_q = as_density_pair(p, q, sample_q=False)
    require_mixtures("kl_bounds", p=density_p, q=density_q)
    lower, upper = _kl_bounds_nats(density_p, density_q)
    return float(lower) / unit, float(upper) / unit


def js_bounds(p, q, *, base=None):
    """Guaranteed bounds on the Jensen-Shannon divergence between Gaussian mixtures.

    Parameters
    ----------
    p, q : fitted estimator
        Fitted GaussianMixture or BayesianGaussianMixture (plug-in density),
        or KernelDensity with the gaussian kernel.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    lower, upper : float
        lower <= JS(P, Q) <= upper, both in [0, log 2] nats ([0, 1] bit).

    Raises
    ------
    ValueError
        If a model is not a Gaussian mixture or the numbers of features differ.

    Notes
    -----
    M = (P + Q) / 2 is itself a Gaussian mixture, so JS = KL(P || M) / 2 +
    KL(Q || M) / 2 is bounded by applying :func:`kl_bounds` to both terms and
    intersecting the result with [0, log 2], the range of JS.
    M has K_p + K_q components, so beyond 2**23 pairs (P or Q a KDE of
    about 2,900 points or more) the variational refinement is left out (see
    :func:`kl_bounds`) and the upper bound is then usually log 2.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import js_bounds
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (500, 2)))
    >>> q = GaussianMixture(2, random_state=0).fit(rng.normal(1, 1, (500, 2)))
    >>> lower, upper = js_bounds(p, q, base=2)
    >>> bool(0 <= lower <= upper <= 1)
    True
    """
    unit = log_base(base)
    density_p, density_q = as_density_pair(p, q, sample_q=False)
    require_mixtures("js_bounds", p=density_p, q=density_q)
    m = equal_mixture(density_p, density_q)
    lower_p, upper_p = _kl_bounds_nats(density_p, m)
    lower_q, upper_q = _kl_bounds_nats(density_q, m)
    lower = min(0.5 * (lower_p + lower_q), _LOG_2)
    upper = min(0.5 * (upper_p + upper_q), _LOG_2)
    return float(lower) / unit, float(upper) / unit


def cauchy_schwarz_divergence(p, q, *, base=None):
    """Closed-form Cauchy-Schwarz divergence between two Gaussian mixtures.

    D_CS(P, Q) = -log int p q + 1/2 log int p^2 + 1/2 log int q^2.

    Parameters
    ----------
    p, q : fitted estimator
        Fitted GaussianMixture or BayesianGaussianMixture (plug-in density),
        or KernelDensity with the gaussian kernel.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    divergence : float
        Exact, symmetric, >= 0 (the Cauchy-Schwarz inequality), and 0 when
        P = Q.

    Raises
    ------
    ValueError
        If a model is not a Gaussian mixture or the numbers of features differ.

    Notes
    -----
    Kampa, Hasanbelliu & Principe (IJCNN 2011). Every integral is a sum of
    Gaussian overlaps int f_a g_b = N(mu_a; nu_b, Sigma_a + Lambda_b), so
    D_CS = -log sum_ab pi_a omega_b t_ab + 1/2 log sum_aa' pi_a pi_a' z_aa'
    + 1/2 log sum_bb' omega_b omega_b' N(nu_b; nu_b', Lambda_b + Lambda_b'),
    each sum taken as a logsumexp. It is not a KL divergence, but it is exact
    and cheap, O((K_p + K_q)^2 d^3) time in blocks of bounded memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import cauchy_schwarz_divergence
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (500, 2)))
    >>> cauchy_schwarz_divergence(p, p)
    0.0
    """
    unit = log_base(base)
    density_p, density_q = as_density_pair(p, q, sample_q=False)
    require_mixtures("cauchy_schwarz_divergence", p=density_p, q=density_q)

    def log_inner_product(first, second):
        return logsumexp(first.log_weights + log_overlap_sums(first, second))

    cross = log_inner_product(density_p, density_q)
    # Two halves, each exactly 0 when P = Q (same numbers, same order).
    value = 0.5 * (log_inner_product(density_p, density_p) - cross) + 0.5 * (
        log_inner_product(density_q, density_q) - cross
    )
    return max(float(value), 0.0) / unit
