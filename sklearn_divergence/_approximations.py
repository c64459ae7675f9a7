"""Deterministic approximations of KL between Gaussian mixtures.

Hershey & Olsen, "Approximating the Kullback Leibler divergence between
Gaussian mixture models", ICASSP 2007; Goldberger, Gordon & Greenspan, "An
efficient image similarity measure based on approximations of KL-divergence
between two Gaussian mixtures", ICCV 2003.

Notation: f = sum_a pi_a f_a is P, g = sum_b omega_b g_b is Q,
D_ab = KL(f_a || g_b), z_aa' = int f_a f_a' and t_ab = int f_a g_b.
"""

import numpy as np
from scipy.special import logsumexp

from ._closed_form import kl_from_cholesky
from ._gaussian import _LOG_2PI, GaussianMixtureParams, pairwise_kl

APPROXIMATIONS = (
    "variational",
    "variational_upper",
    "product",
    "matched",
    "gaussian",
    "unscented",
)
# The matched bound of KL(P || (P + Q) / 2) matches each component of P to
# itself and returns log 2: useless for JS.
JS_APPROXIMATIONS = tuple(m for m in APPROXIMATIONS if m != "matched")

# The variational upper bound's fixed-point iteration (Hershey & Olsen, sec. 7)
# converges slowly, but every iterate is a valid upper bound: stop once it
# moves by less than 1e-6 relative over 10 steps (K = 100 vs 100: ~300 steps).
_MAX_ITERATIONS = 300
_CHECK_EVERY = 10
_TOLERANCE = 1e-6


def to_full(mixture):
    """The same mixture with 'full' precision Cholesky factors (K, d, d)."""
    if mixture.covariance_type == "full":
        return mixture
    k, d = mixture.n_components, mixture.n_features
    pc = mixture.precisions_cholesky
    if mixture.covariance_type == "tied":
        factors = np.broadcast_to(pc, (k, d, d)).copy()
    else:
        diagonal = pc if mixture.covariance_type == "diag" else np.outer(pc, np.ones(d))
        factors = diagonal[:, :, None] * np.eye(d)
    return GaussianMixtureParams(mixture.weights, mixture.means, "full", factors)


def equal_mixture(p, q):
    """M = (P + Q) / 2 as one Gaussian mixture."""
    p, q = to_full(p), to_full(q)
    return GaussianMixtureParams(
        weights=0.5 * np.concatenate([p.weights, q.weights]),
        means=np.vstack([p.means, q.means]),
        covariance_type="full",
        precisions_cholesky=np.concatenate(
            [p.precisions_cholesky, q.precisions_cholesky]
        ),
    )


def log_overlaps(p, q):
    """log int p_a q_b = log N(mu_a; nu_b, Sigma_a + Lambda_b), shape (K_p, K_q).

    One batched Cholesky factorisation of all K_p * K_q summed covariances.
    """
    _, covariances_p = p.full_matrices()
    _, covariances_q = q.full_matrices()
    summed = covariances_p[:, None] + covariances_q[None, :]
    chol = np.linalg.cholesky(summed)
    diff = p.means[:, None, :] - q.means[None, :, :]
    # L is lower triangular, so this solve is a triangular one in effect.
    whitened = np.linalg.solve(chol, diff[..., None])[..., 0]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    d = p.n_features
    return -0.5 * (d * _LOG_2PI + log_det + (whitened**2).sum(axis=-1))


def _variational(p, q):
    within = logsumexp(p.log_weights - pairwise_kl(p, p), axis=1)
    across = logsumexp(q.log_weights - pairwise_kl(p, q), axis=1)
    return p.weights @ (within - across)


def variational_upper_bound(weights_p, weights_q, divergences):
    """Hershey & Olsen's variational upper bound from the pairwise KL matrix."""
    pi, omega = weights_p[:, None], weights_q[None, :]
    # exp(-D) scaled per row so that each row's largest entry is 1: the row
    # scale cancels in the phi update, and nothing that matters underflows.
    kernel = np.exp(divergences.min(axis=1, keepdims=True) - divergences)
    tiny = np.finfo(np.float64).tiny
    psi = pi * omega
    previous = np.inf
    for iteration in range(1, _MAX_ITERATIONS + 1):
        phi = psi * kernel
        phi *= pi / phi.sum(axis=1, keepdims=True)
        # A component of q far from all of p can get a column of zeros.
        column = phi.sum(axis=0, keepdims=True)
        scale = np.divide(omega, column, out=np.zeros_like(column), where=column > 0)
        # psi >= tiny keeps every row sum of psi * kernel above 0 (each row has
        # a kernel entry of 1); it adds at most K * tiny to a column's mass.
        psi = np.maximum(phi * scale, tiny)
        # Every iterate is a valid bound; checking every few steps is enough.
        if iteration % _CHECK_EVERY and iteration < _MAX_ITERATIONS:
            continue
        used = phi > 0
        bound = np.sum(phi[used] * (np.log(phi[used] / psi[used]) + divergences[used]))
        if abs(previous - bound) <= _TOLERANCE * max(1.0, abs(bound)):
            break
        previous = bound
    return bound


def _product(p, q):
    within = logsumexp(p.log_weights + log_overlaps(p, p), axis=1)
    across = logsumexp(q.log_weights + log_overlaps(p, q), axis=1)
    return p.weights @ (within - across)


def _matched(p, q):
    divergences = pairwise_kl(p, q)
    match = np.argmin(divergences - q.log_weights, axis=1)
    matched = divergences[np.arange(p.n_components), match]
    return p.weights @ (matched + p.log_weights - q.log_weights[match])


def _moment_matched(mixture):
    """Mean and lower Cholesky factor of the mixture's covariance."""
    _, covariances = mixture.full_matrices()
    mean = mixture.weights @ mixture.means
    centered = mixture.means - mean
    covariance = np.einsum("k,kij->ij", mixture.weights, covariances) + np.einsum(
        "k,ki,kj->ij", mixture.weights, centered, centered
    )
    return mean, np.linalg.cholesky(covariance)


def _gaussian(p, q):
    return kl_from_cholesky(*_moment_matched(p), *_moment_matched(q))


def _unscented(p, q):
    k, d = p.n_components, p.n_features
    # Rows of L_a^T are the columns of L_a, with L_a L_a^T = Sigma_a.
    offsets = np.sqrt(d) * np.stack([p.covariance_cholesky(a).T for a in range(k)])
    points = np.concatenate(
        [p.means[:, None, :] + offsets, p.means[:, None, :] - offsets], axis=1
    ).reshape(-1, d)
    integrand = p.log_density(points) - q.log_density(points)
    return p.weights @ integrand.reshape(k, 2 * d).mean(axis=1)


_FUNCTIONS = {
    "variational": _variational,
    "variational_upper": lambda p, q: variational_upper_bound(
        p.weights, q.weights, pairwise_kl(p, q)
    ),
    "product": _product,
    "matched": _matched,
    "gaussian": _gaussian,
    "unscented": _unscented,
}


def approximate_kl(p, q, method):
    """KL(P || Q) in nats by the named deterministic approximation."""
    return float(_FUNCTIONS[method](p, q))


def approximate_js(p, q, method):
    """JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with the same approximation."""
    m = equal_mixture(p, q)
    return 0.5 * (approximate_kl(p, m, method) + approximate_kl(q, m, method))
