"""Deterministic approximations of KL between Gaussian mixtures.

Hershey & Olsen, "Approximating the Kullback Leibler divergence between
Gaussian mixture models", ICASSP 2007; Goldberger, Gordon & Greenspan, "An
efficient image similarity measure based on approximations of KL-divergence
between two Gaussian mixtures", ICCV 2003.

Notation: f = sum_a pi_a f_a is P, g = sum_b omega_b g_b is Q,
D_ab = KL(f_a || g_b), z_aa' = int f_a f_a' and t_ab = int f_a g_b.
"""

import numpy as np

from ._closed_form import kl_from_cholesky
from ._gaussian import (
    _LOG_2PI,
    GaussianMixtureParams,
    block_shape,
    pairwise_blocks,
    pairwise_kl,
    pairwise_kl_blocks,
    row_logsumexp,
    slices,
    solve_lower,
)

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
# The iteration holds four K_p x K_q matrices (D, exp(-D), phi, psi): at most
# this many pairs keeps them within 256 MiB. Everything else works in blocks.
MAX_MATRIX_PAIRS = 2**23
_MATRICES_HELD = 4


def to_full(mixture):
    """The same mixture with 'full' precision Cholesky factors (K, d, d)."""
    if mixture.covariance_type == "full":
        return mixture
    factors = mixture.precision_factors(np.arange(mixture.n_components))
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


def _log_overlaps(p, q):
    """log int p_a q_b = log N(mu_a; nu_b, Sigma_a + Lambda_b), shape (K_p, K_q).

    One batched Cholesky factorisation of the summed covariances: K_q of them
    when p's components share one covariance (a KDE's kernel, 'tied'), since
    Sigma + Lambda_b then depends on b only; else all K_p * K_q.
    """
    if p.has_shared_covariance:
        chol = np.linalg.cholesky(p.covariance_matrices[:1] + q.covariance_matrices)
        chol = chol[None]
    else:
        summed = p.covariance_matrices[:, None] + q.covariance_matrices[None, :]
        chol = np.linalg.cholesky(summed)
    whitened = solve_lower(chol, p.means[:, None, :] - q.means[None, :, :])
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    d = p.n_features
    return -0.5 * (d * _LOG_2PI + log_det + (whitened**2).sum(axis=-1))


def log_overlap_blocks(p, q):
    """Blocks of log int p_a q_b, as :func:`pairwise_blocks` yields them."""
    d = p.n_features
    # Differences, whitened differences and sums per pair; the summed
    # covariances and their factors too unless p shares one covariance.
    floats = 3 * d + 4 + (0 if p.has_shared_covariance else 2 * d * d)
    return pairwise_blocks(p, q, _log_overlaps, floats)


def log_kernel_sums(p, q):
    """log sum_b w_b exp(-KL(p_a || q_b)) for every component a of p."""
    negated = (
        (rows, columns, np.negative(block, out=block))
        for rows, columns, block in pairwise_kl_blocks(p, q)
    )
    return row_logsumexp(negated, q.log_weights, p.n_components)


def log_overlap_sums(p, q):
    """log sum_b w_b int p_a q_b for every component a of p."""
    return row_logsumexp(log_overlap_blocks(p, q), q.log_weights, p.n_components)


def _variational(p, q):
    return p.weights @ (log_kernel_sums(p, p) - log_kernel_sums(p, q))


def _variational_objective(phi, psi, divergences):
    """sum_ab phi_ab [log(phi_ab / psi_ab) + D_ab] over phi_ab > 0, by blocks."""
    # The mask and four gathered or computed values per pair.
    rows_step, columns_step = block_shape(*phi.shape, floats_per_pair=5)
    column_blocks = slices(phi.shape[1], columns_step)
    total = 0.0
    for rows in slices(phi.shape[0], rows_step):
        for columns in column_blocks:
            block = phi[rows, columns]
            used = block > 0
            mass = block[used]
            ratio = np.log(mass / psi[rows, columns][used])
            total += np.sum(mass * (ratio + divergences[rows, columns][used]))
    return total


def variational_upper_bound(weights_p, weights_q, divergences):
    """Hershey & Olsen's variational upper bound from the pairwise KL matrix.

    Updated in place: besides ``divergences`` it holds three matrices of its
    shape (see MAX_MATRIX_PAIRS).
    """
    pi, omega = weights_p[:, None], weights_q[None, :]
    # exp(-D) scaled per row so that each row's largest entry is 1: the row
    # scale cancels in the phi update, and nothing that matters underflows.
    kernel = np.subtract(divergences.min(axis=1, keepdims=True), divergences)
    np.exp(kernel, out=kernel)
    tiny = np.finfo(np.float64).tiny
    psi = pi * omega
    phi = np.empty_like(psi)
    previous = np.inf
    for iteration in range(1, _MAX_ITERATIONS + 1):
        np.multiply(psi, kernel, out=phi)
        phi *= pi / phi.sum(axis=1, keepdims=True)
        # A component of q far from all of p can get a column of zeros.
        column = phi.sum(axis=0, keepdims=True)
        scale = np.divide(omega, column, out=np.zeros_like(column), where=column > 0)
        # psi >= tiny keeps every row sum of psi * kernel above 0 (each row has
        # a kernel entry of 1); it adds at most K * tiny to a column's mass.
        np.multiply(phi, scale, out=psi)
        np.maximum(psi, tiny, out=psi)
        # Every iterate is a valid bound; checking every few steps is enough.
        if iteration % _CHECK_EVERY and iteration < _MAX_ITERATIONS:
            continue
        bound = _variational_objective(phi, psi, divergences)
        if abs(previous - bound) <= _TOLERANCE * max(1.0, abs(bound)):
            break
        previous = bound
    return bound


def _product(p, q):
    return p.weights @ (log_overlap_sums(p, p) - log_overlap_sums(p, q))


def _matched(p, q):
    """Goldberger's matched bound, each component's match found block by block."""
    n = p.n_components
    cost = np.full(n, np.inf)
    matched = np.empty(n)
    match = np.empty(n, dtype=np.intp)
    for rows, columns, divergences in pairwise_kl_blocks(p, q):
        block_cost = divergences - q.log_weights[columns]
        best = np.argmin(block_cost, axis=1)
        picked = np.arange(best.size), best
        best_cost = block_cost[picked]
        # Only a strictly lower cost replaces the first block's match, so the
        # first minimum wins, as with one argmin over the whole row.
        better = (best_cost < cost[rows]) | (columns.start == 0)
        index = rows.start + np.flatnonzero(better)
        cost[index] = best_cost[better]
        match[index] = columns.start + best[better]
        matched[index] = divergences[picked][better]
    return p.weights @ (matched + p.log_weights - q.log_weights[match])


def _moment_matched(mixture):
    """Mean and lower Cholesky factor of the mixture's covariance."""
    covariances = mixture.covariance_matrices
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


def check_matrix_fits(name_p, k_p, name_q, k_q):
    """Raise, before any work, if the variational upper bound's matrices are
    too large to hold."""
    pairs = k_p * k_q
    if pairs > MAX_MATRIX_PAIRS:
        gib = _MATRICES_HELD * 8 * pairs / 2**30
        raise ValueError(
            f"method='variational_upper' holds {_MATRICES_HELD} full matrices over "
            f"all pairs of components, and {name_p} has {k_p} components and "
            f"{name_q} has {k_q}: {pairs:,} pairs, {gib:.1f} GiB, over the limit "
            f"of {MAX_MATRIX_PAIRS:,} pairs. Use method='variational' or 'auto', "
            "which work in blocks of bounded size (kl_bounds and js_bounds give "
            "guaranteed bounds the same way)."
        )


def approximate_kl(p, q, method, names=("p", "q")):
    """KL(P || Q) in nats by the named deterministic approximation.

    ``names`` name p and q in errors.
    """
    if method == "variational_upper":
        check_matrix_fits(names[0], p.n_components, names[1], q.n_components)
    return float(_FUNCTIONS[method](p, q))


def approximate_js(p, q, method, names=("p", "q")):
    """JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with the same approximation."""
    if method == "variational_upper":
        k_m = p.n_components + q.n_components
        for name, density in zip(names, (p, q), strict=True):
            check_matrix_fits(name, density.n_components, "M = (P + Q) / 2", k_m)
    m = equal_mixture(p, q)
    return 0.5 * (approximate_kl(p, m, method) + approximate_kl(q, m, method))
