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
from scipy.special import logsumexp, ndtri

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Work over pairs (points x components, components x components) runs in
# blocks. No block's temporaries exceed _MAX_BLOCK_FLOATS float64 values (32
# MiB), whatever the number of components, so that peak memory stays far below
# 1 GiB. Log-densities aim lower, at _CACHE_BLOCK_FLOATS (1 MiB, about a
# per-core L2 cache), which is faster.
_MAX_BLOCK_FLOATS = 2**22
_CACHE_BLOCK_FLOATS = 2**17
# Fewer rows per block than this and the per-block overhead dominates.
_MIN_BLOCK_ROWS = 64

_LOG_2PI = np.log(2.0 * np.pi)
_EPS = np.finfo(np.float64).eps
# Largest rounding error, in nats, accepted from expanding a 'full' quadratic
# form (see GaussianMixtureParams.log_prob); about 1e-11 is typical for
# standardised data in d = 20.
_EXPANSION_TOLERANCE = 1e-9
# Sums of exponentials at least this large (and at most its inverse) are safe
# without the shift by the maximum (see logsumexp_columns).
_LEAST_SAFE_SUM = 1e-280


def block_shape(
    n_rows, n_columns, floats_per_pair, *, target=_MAX_BLOCK_FLOATS, min_rows=1
):
    """(rows, columns) per block of an n_rows x n_columns grid of pairs.

    ``floats_per_pair`` counts the float64 temporaries that one (row, column)
    pair takes in a block. All columns go in one block while ``min_rows`` rows
    of them fit in ``target`` floats, so that a reduction over the columns is
    usually a single block; rows are then added up to ``target`` floats. The
    shape depends on the sizes only (never on n_jobs), so results do too.
    """
    columns = max(1, min(n_columns, target // (floats_per_pair * min_rows)))
    rows = max(target // (floats_per_pair * columns), min_rows)
    return min(rows, max(n_rows, 1)), columns


def slices(n, step):
    """Consecutive slices of ``step`` indices (the last one shorter) over range(n)."""
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def solve_lower(chol, b):
    """x with chol @ x = b, for stacks of lower-triangular chol (..., d, d) and
    b (..., d) whose leading axes broadcast: forward substitution, vectorised
    over the stacks."""
    x = np.empty(np.broadcast_shapes(chol.shape[:-1], b.shape))
    for i in range(b.shape[-1]):
        known = np.einsum("...j,...j->...", chol[..., i, :i], x[..., :i])
        x[..., i] = (b[..., i] - known) / chol[..., i, i]
    return x


def logsumexp_columns(a):
    """Column-wise log-sum-exp of a 2-D float array.

    Components run along axis 0 so that each reduction is a handful of
    contiguous vector operations; this is several times faster than
    ``scipy.special.logsumexp`` over a short trailing axis. Columns are first
    summed without the usual shift by their maximum, which saves two of the
    five passes over the block: while a column's sum of exponentials lies in
    [_LEAST_SAFE_SUM, 1 / _LEAST_SAFE_SUM], no term overflowed and those that
    underflowed (each below 2^-1022) change it by less than one part in
    10^18 for up to 10^8 components, and each exp(a) is at least as accurate
    as exp(a - max). The other columns (all -inf, far from every component,
    overflowing or nan) are redone with the shift.
    """
    with np.errstate(over="ignore", under="ignore"):
        # A matrix-vector product sums 3 times faster than ndarray.sum here.
        sums = np.ones(a.shape[0]) @ np.exp(a)
    unsafe = ~((sums >= _LEAST_SAFE_SUM) & (sums <= 1.0 / _LEAST_SAFE_SUM))
    with np.errstate(divide="ignore"):
        out = np.log(sums)
    if unsafe.any():
        out[unsafe] = _shifted_logsumexp_columns(a[:, unsafe])
    return out


def _shifted_logsumexp_columns(a):
    """logsumexp_columns with the shift by each column's maximum, overwriting ``a``."""
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

    def components(self, index):
        """The components in ``index`` (a slice) as a mixture of their own.

        Weights are kept as they are, not renormalised: pairwise work runs on
        such blocks and needs each component's own log-weight.
        """
        pc = self.precisions_cholesky
        return GaussianMixtureParams(
            self.weights[index],
            self.means[index],
            self.covariance_type,
            pc if self.covariance_type == "tied" else pc[index],
        )

    @cached_property
    def has_shared_covariance(self):
        """Whether all components have one covariance (tied, or a KDE's kernel)."""
        pc = self.precisions_cholesky
        return self.covariance_type == "tied" or bool(np.all(pc == pc[:1]))

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
        # Quadratic forms are expanded as y'Py - 2 y'Pm + m'Pm; expanding
        # around the mean of the means limits the cancellation when data sit
        # far from the origin.
        return self.weights @ self.means

    @cached_property
    def _exact_terms(self):
        """U_k^T (K, d, d) and U_k^T mu_k (K, d) for 'full': the quadratic forms
        as |U_k^T x - U_k^T mu_k|^2, whose subtraction is exact where the
        expansion of :attr:`_expansion` would lose too much (Cholesky factors
        of condition 1e12). Kept per component so that a block of components
        is a contiguous slice."""
        pc = self.precisions_cholesky
        stacked_t = np.ascontiguousarray(pc.transpose(0, 2, 1))
        return stacked_t, np.einsum("kd,kde->ke", self.means, pc)

    @cached_property
    def _expansion(self):
        """Coefficients C (K, f) with C_k . features(x) =
        -1/2 (x - mu_k)^T Sigma_k^{-1} (x - mu_k), for the features of
        :meth:`_features`, whose last one is the constant 1."""
        pc = self.precisions_cholesky
        kind = self.covariance_type
        centered = self.means - self._center
        if kind == "full":
            precisions = self.precision_matrices
            rows, columns = np.triu_indices(self.n_features)
            # y_i y_j for i < j stands for both y_i y_j and y_j y_i.
            quadratic = (
                -np.where(rows == columns, 0.5, 1.0) * precisions[:, rows, columns]
            )
            scaled = np.einsum("kij,kj->ki", precisions, centered)
            norms = (centered * scaled).sum(axis=1)
        elif kind == "tied":
            # In y = U^T x: -1/2 |y - m_k|^2 = -1/2 |y|^2 + m_k . y - 1/2 |m_k|^2.
            projected = centered @ pc
            quadratic = np.full((self.n_components, 1), -0.5)
            scaled, norms = projected, (projected**2).sum(axis=1)
        elif kind == "diag":
            precisions = pc**2
            quadratic = -0.5 * precisions
            scaled = centered * precisions
            norms = (centered * scaled).sum(axis=1)
        else:
            precisions = pc**2
            quadratic = -0.5 * precisions[:, None]
            scaled = centered * precisions[:, None]
            norms = (centered**2).sum(axis=1) * precisions
        return np.hstack([quadratic, scaled, -0.5 * norms[:, None]])

    @cached_property
    def _log_normalisers(self):
        """log det(U_k) - d/2 log(2 pi): log N_k at its own mean."""
        return self.log_det_precision_cholesky - 0.5 * self.n_features * _LOG_2PI

    @cached_property
    def _coefficients_with_constants(self):
        """{weighted: the coefficients of :attr:`_expansion` with log N_k(mu_k),
        plus log w_k if weighted, on the constant feature}: one matrix
        product then gives the log-probabilities."""
        variants = {}
        for weighted in (False, True):
            constants = self._log_normalisers
            if weighted:
                constants = constants + self.log_weights
            variants[weighted] = self._expansion.copy()
            variants[weighted][:, -1] += constants
        return variants

    @cached_property
    def _expansion_rounding(self):
        """(a, b, c) per component: the rounding of the expanded log-probability
        at a point whose centred coordinates are at most r in absolute value
        is at most f eps (a r^2 + b r + c)."""
        coefficients = self._coefficients_with_constants[True]
        n_quadratic = coefficients.shape[1] - self.n_features - 1
        magnitudes = np.abs(coefficients)
        return (
            magnitudes[:, :n_quadratic].sum(axis=1),
            magnitudes[:, n_quadratic:-1].sum(axis=1),
            magnitudes[:, -1],
        )

    def _features(self, X):
        """[quadratic terms; y; 1] of the centred rows y, shape (f, n), for
        the coefficients of :attr:`_expansion`."""
        n, d = X.shape
        kind = self.covariance_type
        n_quadratic = {"full": d * (d + 1) // 2, "diag": d}.get(kind, 1)
        features = np.empty((n_quadratic + d + 1, n))
        Y_t = features[n_quadratic:-1]
        np.subtract(X.T, self._center[:, None], out=Y_t)
        if kind == "tied":
            Y_t[:] = self.precisions_cholesky.T @ Y_t
        squares = features[:n_quadratic]
        if kind == "full":
            _pairwise_products(Y_t, out=squares)
        elif kind == "diag":
            np.square(Y_t, out=squares)
        else:
            np.einsum("ij,ij->j", Y_t, Y_t, out=squares[0])
        features[-1] = 1.0
        return features

    def log_prob(self, X, components=slice(None), *, weighted=True, features=None):
        """log N(x; mu_k, Sigma_k), plus log w_k if ``weighted``, for the
        components in ``components`` (a slice) and every row, shape (k, n).

        Components run along axis 0 (see :func:`logsumexp_columns`). One
        matrix product of expanded quadratic forms gives the whole block;
        'full' blocks are computed by exact subtraction instead where the
        expansion would round by more than _EXPANSION_TOLERANCE, or where its
        d(d + 1)/2 + d + 1 features outnumber the k d projections of the
        subtraction, which is then faster (measured from d = 2 to 50).
        ``features``, if given, is ``self._features(X)``, computed once for
        several blocks of components.
        """
        coefficients = self._coefficients_with_constants[weighted][components]
        k, d = coefficients.shape[0], self.n_features
        # The constants ride on the constant feature: no pass over the block.
        is_full = self.covariance_type == "full"
        if not is_full or coefficients.shape[1] <= k * d:
            features = self._features(X) if features is None else features
            if not is_full or self._expansion_is_accurate(features, components):
                return coefficients @ features
        stacked_t, offsets = (term[components] for term in self._exact_terms)
        projected = stacked_t.reshape(k * d, d) @ X.T
        projected -= offsets.reshape(-1, 1)
        np.square(projected, out=projected)
        out = projected.reshape(k, d, X.shape[0]).sum(axis=1)
        out *= -0.5
        out += self._log_normalisers[components, None]
        if weighted:
            out += self.log_weights[components, None]
        return out

    def _expansion_is_accurate(self, features, components):
        """Whether the expanded log-probabilities of ``features`` round by at
        most _EXPANSION_TOLERANCE, by the bound of :attr:`_expansion_rounding`."""
        d = self.n_features
        if not features.shape[1]:
            return True
        radius = np.abs(features[-d - 1 : -1]).max()
        a, b, c = (term[components] for term in self._expansion_rounding)
        bound = features.shape[0] * _EPS * np.max(a * radius**2 + b * radius + c)
        return bound <= _EXPANSION_TOLERANCE

    def _log_density_blocks(self, n_rows):
        """(rows, components) per block of the log-density of n_rows points."""
        # The 'full' projection holds d floats per (point, component) pair.
        width = self.n_features if self.covariance_type == "full" else 1
        return block_shape(
            n_rows,
            self.n_components,
            width,
            target=_CACHE_BLOCK_FLOATS,
            min_rows=_MIN_BLOCK_ROWS,
        )

    def block_rows(self, n_rows):
        """Rows per block of :meth:`log_density`."""
        return self._log_density_blocks(n_rows)[0]

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
        out = np.full(n, -np.inf)
        gathered = None if gather is None else np.empty(gather.shape)
        rows_step, components_step = self._log_density_blocks(n)
        component_blocks = slices(self.n_components, components_step)
        for rows in slices(n, rows_step):
            # Features serve every block of components (a KDE has many).
            features = self._features(X[rows]) if len(component_blocks) > 1 else None
            for components in component_blocks:
                weighted = self.log_prob(X[rows], components, features=features)
                if gather is not None:
                    _gather_block(
                        weighted, gather[:, rows], components, gathered[:, rows]
                    )
                # Summed over component blocks: -inf + x is x exactly, so one
                # block gives the plain logsumexp.
                out[rows] = np.logaddexp(out[rows], logsumexp_columns(weighted))
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

    def precision_factors(self, index):
        """Upper U_k with U_k U_k^T = Sigma_k^{-1} for the components ``index``
        (an integer array), as an (n, d, d) stack whatever the covariance type."""
        pc = self.precisions_cholesky
        if self.covariance_type == "full":
            return pc[index]
        if self.covariance_type == "tied":
            return np.ascontiguousarray(np.broadcast_to(pc, (len(index), *pc.shape)))
        return self._diagonal_stack(pc[index])

    def covariance_factors(self, index):
        """Lower L_k with L_k L_k^T = Sigma_k for the components ``index``, as
        an (n, d, d) stack whatever the covariance type."""
        factors = self._sampling_factors
        if self.covariance_type not in ("full", "tied"):
            return self._diagonal_stack(factors[index])
        chosen = factors[
            index if self.covariance_type == "full" else np.zeros_like(index)
        ]
        return np.ascontiguousarray(np.swapaxes(chosen, 1, 2))

    def _diagonal_stack(self, scales):
        """(n, d, d) diagonal matrices from (n, d) or (n,) ``scales``."""
        n, d = len(scales), self.n_features
        return np.broadcast_to(scales.reshape(n, -1), (n, d))[:, :, None] * np.eye(d)

    def _dense(self, factors=None, diagonal=None):
        """(K, d, d) matrices: F^T F from (K, d, d) or (d, d) ``factors``
        ('full', 'tied'), else diagonal ones from (K, d) or (K,) ``diagonal``."""
        k, d = self.n_components, self.n_features
        if factors is not None:
            factors = np.broadcast_to(factors, (k, d, d))
            return factors.transpose(0, 2, 1) @ factors
        return self._diagonal_stack(diagonal)

    @cached_property
    def precision_matrices(self):
        """Dense (K, d, d) precision matrices U U^T, for pairwise formulas."""
        pc = self.precisions_cholesky
        if self.covariance_type in ("full", "tied"):
            return self._dense(factors=np.swapaxes(pc, -1, -2))
        return self._dense(diagonal=pc**2)

    @cached_property
    def covariance_matrices(self):
        """Dense (K, d, d) covariance matrices, for pairwise formulas."""
        if self.covariance_type in ("full", "tied"):
            # Factors A = U^{-1}, rows found as U^T a_j = e_j: vectorised over
            # components where _sampling_factors loops over them.
            upper_t = np.swapaxes(self.precisions_cholesky, -1, -2)[..., None, :, :]
            factors = solve_lower(upper_t, np.eye(self.n_features))
            return self._dense(factors=factors)
        return self._dense(diagonal=1.0 / self.precisions_cholesky**2)


def _pairwise_products(Y_t, out):
    """y_i y_j for i <= j (upper-triangle order) of the columns of ``Y_t`` (d, n)."""
    row, d = 0, Y_t.shape[0]
    for i in range(d):
        np.multiply(Y_t[i], Y_t[i:], out=out[row : row + d - i])
        row += d - i


_DIAGONAL_TYPES = ("diag", "spherical")


@dataclass(frozen=True, eq=False)
class StandardCoordinates:
    """Weighted log-probabilities of the components of several mixtures at the
    points x = mu_a + L_a z of component a of a sampled mixture, written in z.

    With U_b U_b^T = Sigma_b^{-1}, B = U_b^T L_a and c = U_b^T (mu_a - mu_b),
    log w_b + log N(mu_a + L_a z; mu_b, Sigma_b) is -1/2 |B z + c|^2 plus
    constants: for a block of a stratum, every component of every mixture
    comes from the block's z alone, without forming x (the sampled
    component itself, B = I and c = 0 up to rounding, is treated like any
    other). As in
    :meth:`GaussianMixtureParams.log_prob`, the quadratic is expanded on the
    features [z_i z_j (i <= j); z; 1] (only [z_i^2; z; 1] where every B is
    diagonal) when there are no more of them than the K d projections, and
    where its rounding stays below _EXPANSION_TOLERANCE; the subtraction
    B z + c is used otherwise.

    With ``conditional=True`` and a shared covariance within each mixture
    (tied, a KDE, one component), the components of a mixture differ, as
    functions of z, only by the linear terms (B^T c_b - B^T c_1) . z, whose
    directions span m < d dimensions (m <= K_s + K_t - 2): with y = W z for
    orthonormal W (m, d) holding that span, log s - log t given y is the
    same log-sum-exp difference of the components' conditional means,
    E[-1/2 |B z + c|^2 | y] = -1/2 |B W^T y + c|^2 - 1/2 |B V^T|_F^2 (V the
    orthonormal complement of W). So the KL integrand is replaced by its
    conditional expectation given y and sampled in m dimensions
    (conditional Monte Carlo, Owen, "Monte Carlo theory, methods and
    examples", ch. 8: never more variance for plain sampling, and less
    measured for RQMC on the benchmark suite); every component's
    conditional mean keeps its exact mean (the controls'). Only KL is
    linear in the log-densities; JS keeps all d.

    Between spherical mixtures (a KDE included) no conditioning is needed:
    in stratum a every component is -1/2 beta^2 |z|^2 - beta (c . z) plus a
    constant, with every c in the span of W (m <= K - 1 directions), so each
    log-density, every integrand and every control is a function of y = W z
    and rho = |V z| alone, and changing variables is exact: y is standard
    normal in m dimensions, rho^2 independent chi-square with d - m degrees
    of freedom, and the draws are z' = (y, rho), with projections B [W; v]^T
    for a unit v orthogonal to W (*radial* coordinates). The estimates are
    the same random variables as in d dimensions, for KL and JS, and RQMC
    draws them from fewer uniforms: m, then (d - m) / 2, rounded up, for rho
    (:func:`radial_draws`).

    Parameters
    ----------
    projections : ndarray of shape (K_s, K, d, m)
        B for every stratum a and each of the K components of the mixtures,
        one mixture after the other (B W_a^T where conditional, else m = d).
    offsets : ndarray of shape (K_s, K, d)
    constants : ndarray of shape (K_s, K)
        log w_b + log det U_b - d/2 log(2 pi).
    expansion : ndarray of shape (K_s, K, f) or None
        Coefficients on the features, constants included, when expanding is
        the cheaper form.
    rounding : ndarray of shape (3, K_s, K) or None
        (sum of |quadratic|, sum of |linear|, |constant|) coefficients: the
        expansion's rounding at points with |z_i| <= r is at most
        f eps (a r^2 + b r + c).
    basis : ndarray of shape (K_s, m, d) or None
        W_a, where conditional: the draws are y = W_a z (radial: [W_a; v_a],
        m + 1 rows).
    radial_degrees : int
        d - m where radial, the chi-square degrees of freedom of rho^2,
        else 0.
    """

    projections: np.ndarray
    offsets: np.ndarray
    constants: np.ndarray
    expansion: np.ndarray = None
    rounding: np.ndarray = None
    basis: np.ndarray = None
    radial_degrees: int = 0

    @property
    def n_dimensions(self):
        """The dimension of the draws z (d unless conditional or radial)."""
        return self.projections.shape[-1]

    @property
    def n_uniforms(self):
        """Uniforms per draw for :func:`radial_draws`: one per dimension,
        except for rho, which takes (d - m) / 2, rounded up."""
        if not self.radial_degrees:
            return self.n_dimensions
        return self.n_dimensions - 1 + (self.radial_degrees + 1) // 2

    @classmethod
    def of(cls, sampled, mixtures, *, conditional=False):
        """The components of ``mixtures`` (a sequence of mixtures) in the
        standard coordinates of ``sampled``'s components, or None when they
        would take more than _MAX_BLOCK_FLOATS floats (a large KDE, sampled or
        not): this method holds at most four arrays of K_s K max(d^2, f)
        floats at once, and a block of :meth:`blocks` at least _MIN_BLOCK_ROWS
        rows of the K d projections and the K results. ``conditional``: in
        fewer dimensions where the mixtures allow it (see the class)."""
        k_s, d = sampled.n_components, sampled.n_features
        k = sum(mixture.n_components for mixture in mixtures)
        n_features = d * (d + 1) // 2 + d + 1
        per_component = max(4 * k_s * max(d * d, n_features), _MIN_BLOCK_ROWS * (d + 1))
        if per_component * k > _MAX_BLOCK_FLOATS:
            return None
        sampling = sampled.covariance_factors(np.arange(k_s))
        projections = np.empty((k_s, k, d, d))
        offsets = np.empty((k_s, k, d))
        constants = np.empty((k_s, k))
        first = 0
        for mixture in mixtures:
            columns = slice(first, first + mixture.n_components)
            first = columns.stop
            factors = mixture.precision_factors(np.arange(mixture.n_components))
            np.einsum("bji,ajk->abik", factors, sampling, out=projections[:, columns])
            np.einsum(
                "bji,abj->abi",
                factors,
                sampled.means[:, None] - mixture.means,
                out=offsets[:, columns],
            )
            constants[:, columns] = mixture._log_normalisers + mixture.log_weights
        diagonal = all(
            m.covariance_type in _DIAGONAL_TYPES for m in (sampled, *mixtures)
        )
        basis, radial_degrees = None, 0
        if conditional and all(m.has_shared_covariance for m in mixtures):
            sizes = [mixture.n_components for mixture in mixtures]
            reduced = _conditioned(projections, offsets, constants, sizes)
            if reduced is not None:
                projections, constants, basis = reduced
                diagonal = False
        if basis is None and all(
            m.covariance_type == "spherical" for m in (sampled, *mixtures)
        ):
            reduced = _radial(projections, offsets)
            if reduced is not None:
                projections, basis = reduced
                radial_degrees = d + 1 - projections.shape[-1]
        m = projections.shape[-1]
        n_quadratic = m if diagonal else m * (m + 1) // 2
        if n_quadratic + m + 1 > k * d:
            return cls(
                projections,
                offsets,
                constants,
                basis=basis,
                radial_degrees=radial_degrees,
            )
        # -1/2 |B z + c|^2 = -1/2 z^T B^T B z - (B^T c) . z - 1/2 |c|^2.
        gram = np.einsum("abji,abjk->abik", projections, projections)
        if diagonal:
            quadratic = -0.5 * np.diagonal(gram, axis1=2, axis2=3)
        else:
            rows, columns = np.triu_indices(m)
            # z_i z_j for i < j stands for both z_i z_j and z_j z_i.
            scale = -np.where(rows == columns, 0.5, 1.0)
            quadratic = scale * gram[:, :, rows, columns]
        del gram
        linear = -np.einsum("abji,abj->abi", projections, offsets)
        constant = constants - 0.5 * (offsets**2).sum(axis=-1)
        rounding = np.stack(
            [
                np.abs(quadratic).sum(axis=-1),
                np.abs(linear).sum(axis=-1),
                np.abs(constant),
            ]
        )
        expansion = np.concatenate([quadratic, linear, constant[..., None]], -1)
        return cls(
            projections, offsets, constants, expansion, rounding, basis, radial_degrees
        )

    def _expands(self, Z):
        """Whether to expand at the rows of ``Z``: the expansion is the cheaper
        form and rounds by at most _EXPANSION_TOLERANCE there."""
        if self.expansion is None:
            return False
        # Two reductions without the temporary of np.abs(Z).
        radius = max(Z.max(initial=0.0), -Z.min(initial=0.0))
        a, b, c = self.rounding
        worst = np.max(a * radius**2 + b * radius + c)
        return self.expansion.shape[-1] * _EPS * worst <= _EXPANSION_TOLERANCE

    def blocks(self, Z, strata):
        """Yield (stratum, rows, log-probabilities (K, n_rows)) for the rows of
        ``Z``, grouped by their sorted ``strata``, in cache-sized blocks."""
        n, d = Z.shape
        k = self.constants.shape[1]
        expands = self._expands(Z)
        # Floats per row: the features, or the K d projections; and the result.
        width = (self.expansion.shape[-1] if expands else self.offsets[0].size) + k
        step = max(_CACHE_BLOCK_FLOATS // width, _MIN_BLOCK_ROWS)
        stops = np.flatnonzero(np.diff(strata)) + 1
        for start, stop in zip(np.r_[0, stops], np.r_[stops, n], strict=True):
            stratum = strata[start]
            for first in range(start, stop, step):
                rows = slice(first, min(first + step, stop))
                if expands:
                    features = _standard_features(Z[rows], self.expansion.shape[-1])
                    yield stratum, rows, self.expansion[stratum] @ features
                    continue
                projected = self.projections[stratum].reshape(-1, d) @ Z[rows].T
                projected += self.offsets[stratum].reshape(-1, 1)
                np.square(projected, out=projected)
                out = projected.reshape(k, -1, projected.shape[-1]).sum(axis=1)
                out *= -0.5
                out += self.constants[stratum, :, None]
                yield stratum, rows, out


def _conditioned(projections, offsets, constants, sizes):
    """(projections B W_a^T, constants, W) conditional on y = W_a z (see
    :class:`StandardCoordinates`), or None where the directions that tell a
    mixture's components apart span all d dimensions in some stratum.
    ``sizes``: the components of each mixture, in the order of the K.

    W_a is the leading m rows of the right singular vectors of the stack of
    B^T c_b - B^T c_first for the components b of each mixture, m the
    largest numerical rank over the strata, so that every stratum draws in
    the same m dimensions (conditioning on a few more directions than a
    stratum needs is exact too).
    """
    d = projections.shape[-1]
    linear = np.einsum("abji,abj->abi", projections, offsets)
    firsts = np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
    basis, rank = _span(linear - linear[:, firsts])
    # At least one dimension, so that there are draws.
    m = max(rank, 1)
    if m >= d:
        return None
    reduced = np.einsum("abij,akj->abik", projections, basis[:, :m])
    # E over z's part orthogonal to y, V z with V the other singular vectors,
    # of -1/2 |B z|^2: -1/2 |B V^T|_F^2, summed without cancellation.
    orthogonal = np.einsum("abij,akj->abik", projections, basis[:, m:])
    lost = (orthogonal**2).sum(axis=(2, 3))
    return reduced, constants - 0.5 * lost, basis[:, :m]


def _span(directions):
    """(right singular vectors (K_s, >= rank, d), rank): the orthonormal
    basis whose leading rows span the (K_s, K, d) ``directions`` of every
    stratum, rank the largest numerical rank over the strata."""
    d = directions.shape[-1]
    # All d right singular vectors, without the K x K left ones of a KDE.
    _, singular, basis = np.linalg.svd(
        directions, full_matrices=directions.shape[1] < d
    )
    largest = singular.max(axis=-1, initial=0.0)
    tolerance = max(directions.shape[1:]) * _EPS * largest
    return basis, int(np.max(np.sum(singular > tolerance[:, None], axis=-1)))


def _radial(projections, offsets):
    """(projections B [W_a; v_a]^T, basis [W_a; v_a]) in the radial
    coordinates of spherical mixtures (see :class:`StandardCoordinates`), or
    None where they would save no dimension (m + 1 >= d).

    W_a spans every component's linear term B^T c (for spherical B = beta I,
    along c itself, so |B z + c|^2 depends on z through W_a z and |z|^2
    alone); v_a is the next right singular vector, orthogonal to them.
    """
    d = projections.shape[-1]
    basis, m = _span(np.einsum("abji,abj->abi", projections, offsets))
    if m + 1 >= d:
        return None
    # The sampled component's own c is 0, so m < K and the basis has m + 1 rows.
    basis = basis[:, : m + 1]
    return np.einsum("abij,akj->abik", projections, basis), basis


def radial_draws(uniforms, m, degrees):
    """(y, rho) draws of radial coordinates from uniforms of shape
    (..., m + ceil(degrees / 2)): y = ndtri of the first m, and rho^2 =
    -2 sum log U over the next floor(degrees / 2), a chi-square with
    2 floor(degrees / 2) degrees of freedom, plus the square of one more
    normal for odd ``degrees``."""
    draws = np.empty((*uniforms.shape[:-1], m + 1))
    ndtri(uniforms[..., :m], out=draws[..., :m])
    squared = -2.0 * np.log(uniforms[..., m : m + degrees // 2]).sum(axis=-1)
    if degrees % 2:
        squared += ndtri(uniforms[..., -1]) ** 2
    np.sqrt(squared, out=draws[..., m])
    return draws


def _standard_features(Z, n_features):
    """[z_i z_j (i <= j) or z_i^2; z; 1] of the rows of ``Z``, shape (f, n)."""
    n, d = Z.shape
    features = np.empty((n_features, n))
    n_quadratic = n_features - d - 1
    Z_t = features[n_quadratic:-1]
    Z_t[:] = Z.T
    if n_quadratic == d:
        np.square(Z_t, out=features[:d])
    else:
        _pairwise_products(Z_t, out=features)
    features[-1] = 1.0
    return features


def _gather_block(weighted, gather, components, out):
    """Copy into ``out`` the entries of ``gather`` that fall in ``components``.

    ``weighted`` holds the rows of the components in the slice ``components``;
    ``gather`` indexes all of them.
    """
    local = gather - components.start
    inside = (local >= 0) & (local < weighted.shape[0])
    taken = np.take_along_axis(weighted, np.where(inside, local, 0), axis=0)
    np.copyto(out, taken, where=inside)


def pairwise_blocks(p, q, function, floats_per_pair):
    """Yield (rows, columns, function(p_block, q_block)) over blocks of components.

    ``function`` maps two mixtures to their (k_p, k_q) matrix of pairwise
    values and takes ``floats_per_pair`` float64 temporaries per pair; blocks
    are sized by :func:`block_shape`, so that memory stays bounded whatever
    K_p and K_q are.
    """
    rows_step, columns_step = block_shape(
        p.n_components, q.n_components, floats_per_pair
    )
    # q's blocks, with their cached factors, serve every block of p.
    q_blocks = [(c, q.components(c)) for c in slices(q.n_components, columns_step)]
    for rows in slices(p.n_components, rows_step):
        p_block = p.components(rows)
        for columns, q_block in q_blocks:
            yield rows, columns, function(p_block, q_block)


def row_logsumexp(blocks, log_weights, n_rows):
    """log sum_b w_b exp(M[a, b]) for every row a, from the blocks of M.

    ``blocks`` yields (rows, columns, M[rows, columns]) as
    :func:`pairwise_blocks` does; sums over blocks of columns add up in log
    space, in float64.
    """
    out = np.full(n_rows, -np.inf)
    for rows, columns, block in blocks:
        block += log_weights[columns]
        # -inf + x is x exactly, so a single block of columns gives the plain
        # logsumexp.
        out[rows] = np.logaddexp(out[rows], logsumexp(block, axis=1))
    return out


def _pairwise_kl(p, q):
    """KL(p_a || q_b) for all components of two (small) mixtures, (K_p, K_q).

    Uses KL = 1/2 [tr(P_b S_a) + (mu_a - nu_b)^T P_b (mu_a - nu_b) - d]
    + 1/2 log(det Lambda_b / det Sigma_a), with the Mahalanobis term taken from
    q's own log-density code and the trace from one matrix product of the
    flattened precision and covariance matrices.
    """
    d = p.n_features
    trace = (
        p.covariance_matrices.reshape(p.n_components, -1)
        @ q.precision_matrices.reshape(q.n_components, -1).T
    )
    log_prob_at_means = q.log_prob(p.means, weighted=False).T
    return (
        0.5 * (trace - d)
        + p.log_det_precision_cholesky[:, None]
        - log_prob_at_means
        - 0.5 * d * _LOG_2PI
    )


def pairwise_kl_blocks(p, q):
    """Blocks of D[a, b] = KL(p_a || q_b), as :func:`pairwise_blocks` yields them."""
    # d floats per pair in q's 'full' projection, 4 for the trace and the sums.
    return pairwise_blocks(p, q, _pairwise_kl, p.n_features + 4)


def pairwise_kl(p, q):
    """Matrix D[a, b] = KL(p_a || q_b) between all Gaussian components.

    The (K_p, K_q) result is held in memory; the work runs in blocks.
    """
    out = np.empty((p.n_components, q.n_components))
    for rows, columns, block in pairwise_kl_blocks(p, q):
        out[rows, columns] = block
    return out
