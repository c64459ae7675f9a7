"""Gaussian mixtures held as plain parameters: log-densities, sampling, moments.

The storage follows ``sklearn.mixture.GaussianMixture`` (see the table in
``_gaussian_mixture.py``): ``precisions_cholesky`` is the upper-triangular
factor U with U U^T = Sigma^{-1} for 'full' (K, d, d) and 'tied' (d, d), the
per-feature inverse standard deviations for 'diag' (K, d), and one inverse
standard deviation per component for 'spherical' (K,).
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import solve_triangular

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Rows of a block are chosen so that the (n_components * n_features, rows)
# working array stays around 1 MiB, about the size of a per-core L2 cache.
_BLOCK_ELEMENTS = 2**17

_LOG_2PI = np.log(2.0 * np.pi)


def logsumexp_columns(a):
    """Column-wise log-sum-exp of a 2-D float array, overwriting ``a``.

    Components run along axis 0 so that each reduction is a handful of
    contiguous vector operations; this is several times faster than
    ``scipy.special.logsumexp`` over a short trailing axis.
    """
    col_max = a.max(axis=0)
    # A column of all -inf would give -inf - -inf = nan; shift it by 0 instead.
    shift = np.where(np.isfinite(col_max), col_max, 0.0)
    a -= shift
    np.exp(a, out=a)
    with np.errstate(divide="ignore"):
        return np.log(a.sum(axis=0)) + shift


@dataclass(frozen=True, eq=False)
class GaussianMixtureParams:
    """A Gaussian mixture stored as weights, means and precision Cholesky factors.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    precisions_cholesky : ndarray
        Shaped as in :class:`sklearn.mixture.GaussianMixture`.
    """

    weights: np.ndarray
    means: np.ndarray
    covariance_type: str
    precisions_cholesky: np.ndarray

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    @cached_property
    def log_weights(self):
        with np.errstate(divide="ignore"):
            return np.log(self.weights)

    @cached_property
    def log_det_precision_cholesky(self):
        """Sum of log diag(U) per component, i.e. -1/2 log det Sigma_k."""
        pc = self.precisions_cholesky
        kind = self.covariance_type
        if kind == "full":
            return np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
        if kind == "tied":
            value = np.log(np.diag(pc)).sum()
            return np.full(self.n_components, value)
        if kind == "diag":
            return np.log(pc).sum(axis=1)
        return self.n_features * np.log(pc)

    @cached_property
    def entropies(self):
        """Differential entropy H_k = 1/2 log det(2 pi e Sigma_k) per component."""
        d = self.n_features
        return 0.5 * d * (_LOG_2PI + 1.0) - self.log_det_precision_cholesky

    @cached_property
    def _center(self):
        # Quadratic forms are expanded as |y|^2 - 2 y.m + |m|^2 for the
        # non-full types; expanding around the mean of the means limits the
        # cancellation when data sit far from the origin.
        return self.weights @ self.means

    @cached_property
    def _quadratic_terms(self):
        """Precomputed matrices for :meth:`_squared_mahalanobis`."""
        pc = self.precisions_cholesky
        kind = self.covariance_type
        if kind == "full":
            # One product [U_1 | ... | U_K]^T @ X^T serves all components, and
            # full covariances subtract exactly, so they need no centering.
            k, d = self.means.shape
            stacked_t = np.ascontiguousarray(pc.transpose(0, 2, 1).reshape(k * d, d))
            offsets = np.einsum("kd,kde->ke", self.means, pc).reshape(-1, 1)
            return stacked_t, offsets
        centered = self.means - self._center
        if kind == "tied":
            projected = centered @ pc
            return pc.T.copy(), projected, (projected**2).sum(axis=1)[:, None]
        if kind == "diag":
            precisions = pc**2
            scaled = centered * precisions
            # [P | -2 P*mu] @ [x^2 ; x] gives both x-dependent terms at once.
            coefficients = np.hstack([precisions, -2.0 * scaled])
            return coefficients, (centered * scaled).sum(axis=1)[:, None]
        precisions = (pc**2)[:, None]
        return (
            precisions,
            centered * precisions,
            (centered**2).sum(axis=1)[:, None] * precisions,
        )

    def _squared_mahalanobis(self, X):
        """(x - mu_k)^T Sigma_k^{-1} (x - mu_k) for a block of rows, shape (K, n).

        Components run along axis 0 (see :func:`logsumexp_columns`).
        """
        kind = self.covariance_type
        terms = self._quadratic_terms
        if kind == "full":
            stacked_t, offsets = terms
            projected = stacked_t @ X.T
            projected -= offsets
            np.square(projected, out=projected)
            k, n = self.n_components, X.shape[0]
            return projected.reshape(k, self.n_features, n).sum(axis=1)
        if kind == "diag":
            coefficients, means_norm = terms
            d = self.n_features
            powers = np.empty((2 * d, X.shape[0]))
            np.subtract(X.T, self._center[:, None], out=powers[d:])
            np.square(powers[d:], out=powers[:d])
            out = coefficients @ powers
            out += means_norm
            return np.maximum(out, 0.0, out=out)
        Xc_t = (X - self._center).T
        if kind == "tied":
            chol_t, projected_means, means_norm = terms
            Y_t = chol_t @ Xc_t
            out = projected_means @ Y_t
            out *= -2.0
            out += np.einsum("ij,ij->j", Y_t, Y_t)
        else:
            precisions, scaled_means, means_norm = terms
            out = scaled_means @ Xc_t
            out *= -2.0
            out += np.einsum("ij,ij->j", Xc_t, Xc_t) * precisions
        out += means_norm
        # The expansion can round a true zero to a tiny negative number.
        return np.maximum(out, 0.0, out=out)

    def component_log_prob(self, X):
        """log N(x; mu_k, Sigma_k) for every component and row, shape (K, n)."""
        out = self._squared_mahalanobis(X)
        out += self.n_features * _LOG_2PI
        out *= -0.5
        out += self.log_det_precision_cholesky[:, None]
        return out

    def block_rows(self, n_rows):
        """Rows per block so that the working set of one block stays cache-sized."""
        width = self.n_components * (
            self.n_features if self.covariance_type == "full" else 1
        )
        return int(min(max(n_rows, 1), max(64, _BLOCK_ELEMENTS // width)))

    def log_density(self, X, gather=None):
        """Log-density of the mixture at the rows of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n, n_features)
        gather : ndarray of int of shape (m, n), default=None
            For each row, m components whose weighted log-probabilities
            log(w_k) + log N(x; mu_k, Sigma_k) are returned as well.

        Returns
        -------
        log_density : ndarray of shape (n,)
        gathered : ndarray of shape (m, n)
            Only when ``gather`` is given.
        """
        n = X.shape[0]
        out = np.empty(n)
        gathered = None if gather is None else np.empty(gather.shape)
        step = self.block_rows(n)
        for start in range(0, n, step):
            stop = min(start + step, n)
            weighted = self.component_log_prob(X[start:stop])
            weighted += self.log_weights[:, None]
            if gather is not None:
                gathered[:, start:stop] = np.take_along_axis(
                    weighted, gather[:, start:stop], axis=0
                )
            out[start:stop] = logsumexp_columns(weighted)
        return out if gather is None else (out, gathered)

    @cached_property
    def _sampling_factors(self):
        """Factors A with A^T A = Sigma_k, so that x = mu_k + z @ A for z ~ N(0, I)."""
        pc = self.precisions_cholesky
        kind = self.covariance_type
        if kind in ("full", "tied"):
            # Sigma = U^{-T} U^{-1}, so A = U^{-1}, found by a triangular solve.
            factors = np.atleast_3d(pc) if kind == "full" else pc[None]
            identity = np.eye(self.n_features)
            return np.stack(
                [solve_triangular(u, identity, lower=False) for u in factors]
            )
        return 1.0 / pc

    def transform_standard_normal(self, Z, counts):
        """Map rows of ``Z`` (grouped by component, ``counts`` rows each) to samples."""
        labels = np.repeat(np.arange(self.n_components), counts)
        kind = self.covariance_type
        factors = self._sampling_factors
        if kind == "full":
            X = np.empty_like(Z)
            stops = np.cumsum(counts)
            for k in np.flatnonzero(counts):
                rows = slice(stops[k] - counts[k], stops[k])
                np.matmul(Z[rows], factors[k], out=X[rows])
        elif kind == "tied":
            X = Z @ factors[0]
        elif kind == "diag":
            X = Z * factors[labels]
        else:
            X = Z * factors[labels, None]
        X += self.means[labels]
        return X

    def covariance_cholesky(self, k):
        """Lower-triangular L with L L^T = Sigma_k, shape (d, d)."""
        kind = self.covariance_type
        if kind in ("full", "tied"):
            return self._sampling_factors[k if kind == "full" else 0].T
        scale = self._sampling_factors[k]
        return np.diag(np.broadcast_to(scale, (self.n_features,)))

    def full_matrices(self):
        """Dense (K, d, d) precision and covariance matrices for pairwise formulas."""
        kind = self.covariance_type
        pc = self.precisions_cholesky
        k, d = self.n_components, self.n_features
        if kind in ("full", "tied"):
            chol = pc if kind == "full" else np.broadcast_to(pc, (k, d, d))
            factors = self._sampling_factors
            factors = factors if kind == "full" else np.broadcast_to(factors, (k, d, d))
            precisions = chol @ chol.transpose(0, 2, 1)
            covariances = factors.transpose(0, 2, 1) @ factors
            return precisions, covariances
        diag = pc**2 if kind == "diag" else np.repeat(pc[:, None] ** 2, d, axis=1)
        eye = np.eye(d)
        return diag[:, :, None] * eye, (1.0 / diag)[:, :, None] * eye


def pairwise_kl(p, q):
    """Matrix D[a, b] = KL(p_a || q_b) between all Gaussian components.

    Uses KL = 1/2 [tr(P_b S_a) + (mu_a - nu_b)^T P_b (mu_a - nu_b) - d]
    + 1/2 log(det Lambda_b / det Sigma_a), with the Mahalanobis term taken from
    q's own log-density code and the trace from one matrix product of the
    flattened precision and covariance matrices.
    """
    d = p.n_features
    _, covariances_p = p.full_matrices()
    precisions_q, _ = q.full_matrices()
    trace = (
        covariances_p.reshape(p.n_components, -1)
        @ precisions_q.reshape(q.n_components, -1).T
    )
    log_prob_at_means = q.component_log_prob(p.means).T
    return (
        0.5 * (trace - d)
        + p.log_det_precision_cholesky[:, None]
        - log_prob_at_means
        - 0.5 * d * _LOG_2PI
    )
