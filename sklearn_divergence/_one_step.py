"""The permutation test's models: one EM step from a fit on the pooled rows.

The default model of :func:`divergence_test` fits the pooled rows once. For
any split of them into two parts, each part's model is one EM step from that
fit: the pooled fit's responsibilities r_ik, and weights, means and
covariances from the part's rows,

.. math::

   N_k = \\sum_{i \\in S} r_{ik}, \\quad
   \\mu_k = \\frac{1}{N_k} \\sum_{i \\in S} r_{ik} x_i, \\quad
   \\Sigma_k = \\frac{1}{N_k} \\sum_{i \\in S} r_{ik} x_i x_i^T
   - \\mu_k \\mu_k^T + \\lambda I,

with lambda the variance floor, as in scikit-learn's M-step. The sums of one
part are products of its rows with the responsibilities, and the other
part's are the pooled sums minus them, so a split costs two such products
instead of two refits. One pooled row's average statistics are added to each
part's, so that a component no row of a part falls in keeps the pooled
fit's mean and covariance at a small weight instead of dividing by zero.
Every split, the observed one included, goes through this same procedure,
which keeps the permutation test exact.

The test compares several *views* of the two parts, each sensitive to other
differences, and combines them by the minimum of their p-values, calibrated
on the same permutations (Westfall & Young's min-p [1]_), which keeps it
exact:

- 'mixture': weights, means and covariances of each part;
- 'location': weights and means of each part, the pooled fit's covariances,
  a statistic with less noise against shifts and changes of proportions;
- 'gaussian': one full-covariance Gaussian per part (the part's mean and
  covariance), which sees changes of scale and correlation that a
  spherical or diagonal mixture cannot;
- 'mean': one Gaussian per part with the pooled covariance, so that only
  the means differ: a monotone function of the Mahalanobis distance between
  the parts' means, as in Hotelling's test, the least noisy statistic
  against a shift.

References
----------
.. [1] P. H. Westfall and S. S. Young, "Resampling-Based Multiple Testing",
   Wiley, 1993.
"""

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.mixture import GaussianMixture
from sklearn.utils.parallel import delayed

from ._config import run_tasks
from ._fitting import single_threaded
from ._resampling import split_rows

# view -> (statistics it uses, whether each part has its own covariances).
VIEWS = {
    "mixture": ("mixture", True),
    "location": ("mixture", False),
    "gaussian": ("gaussian", True),
    "mean": ("gaussian", False),
}


@dataclass(frozen=True)
class _Sums:
    """Responsibility-weighted sums of rows: counts, first and second moments."""

    counts: np.ndarray  # (K,)
    first: np.ndarray  # (K, d)
    second: np.ndarray  # (K, d, d) for 'full' and 'tied', (K, d) otherwise

    def __sub__(self, other):
        return _Sums(
            self.counts - other.counts,
            self.first - other.first,
            self.second - other.second,
        )

    def plus(self, other, factor):
        return _Sums(
            self.counts + factor * other.counts,
            self.first + factor * other.first,
            self.second + factor * other.second,
        )


def _sums(X, responsibilities, full):
    """Weighted sums of ``X``; ``responsibilities=None``: one component, all rows."""
    if responsibilities is None:
        return _Sums(
            np.array([float(X.shape[0])]), X.sum(axis=0)[None], (X.T @ X)[None]
        )
    counts = responsibilities.sum(axis=0)
    first = responsibilities.T @ X
    if full:
        second = np.stack(
            [(X * column[:, None]).T @ X for column in responsibilities.T]
        )
    else:
        second = responsibilities.T @ (X * X)
    return _Sums(counts, first, second)


def _precision_cholesky(covariance):
    """The upper factor U with U U^T = inverse(covariance), by two triangular steps."""
    lower = np.linalg.cholesky(covariance)
    return solve_triangular(lower, np.eye(len(covariance)), lower=True).T


class OneStepModels:
    """Models of any split of ``X``, one EM step from the pooled ``mixture``.

    Parameters
    ----------
    mixture : GaussianMixture
        Fitted on ``X``.
    X : ndarray of shape (n_samples, n_features)
        The pooled rows.
    """

    # Pooled rows' average statistics added to each part's.
    pseudo_rows = 1.0

    def __init__(self, mixture, X):
        self.reg_covar = mixture.reg_covar
        self.X = X
        responsibilities = mixture.predict_proba(X)
        kind = mixture.covariance_type
        gaussian = _sums(X, None, True)
        # Per kind of statistics: responsibilities, covariance type, pooled
        # sums, and the pooled covariances that 'location' and 'mean' keep.
        self.statistics = {
            "mixture": (
                responsibilities,
                kind,
                _sums(X, responsibilities, _is_full(kind)),
                np.asarray(mixture.covariances_, dtype=np.float64),
            ),
            "gaussian": (
                None,
                "full",
                gaussian,
                _covariances(gaussian, "full", self.reg_covar),
            ),
        }

    def pairs(self, rows):
        """{view: (model of ``rows`` of X, model of the rest)} for every view."""
        pairs = {}
        X = self.X[rows]
        for statistics in ("mixture", "gaussian"):
            responsibilities, kind, totals, pooled = self.statistics[statistics]
            if responsibilities is not None:
                responsibilities = responsibilities[rows]
            part = _sums(X, responsibilities, _is_full(kind))
            pseudo_row = self.pseudo_rows / self.X.shape[0]
            both = [sums.plus(totals, pseudo_row) for sums in (part, totals - part)]
            for view, (source, own) in VIEWS.items():
                if source == statistics:
                    pairs[view] = tuple(
                        self._model(sums, kind, None if own else pooled)
                        for sums in both
                    )
        return pairs

    def _model(self, sums, kind, covariances):
        counts = sums.counts
        means = sums.first / counts[:, None]
        if covariances is None:
            covariances = _covariances(sums, kind, self.reg_covar)
        return _fitted_mixture(
            counts / counts.sum(), means, covariances, kind, self.reg_covar
        )


def _is_full(kind):
    return kind in ("full", "tied")


def _covariances(sums, kind, reg_covar):
    """The M-step's covariances from weighted sums, with the variance floor."""
    counts = sums.counts
    means = sums.first / counts[:, None]
    d = means.shape[1]
    if kind == "full":
        return (
            sums.second / counts[:, None, None]
            - means[:, :, None] * means[:, None, :]
            + reg_covar * np.eye(d)
        )
    if kind == "tied":
        spread = sums.second.sum(axis=0) - np.einsum(
            "k,ki,kj->ij", counts, means, means
        )
        return spread / counts.sum() + reg_covar * np.eye(d)
    variances = sums.second / counts[:, None] - means**2
    return (variances if kind == "diag" else variances.mean(axis=1)) + reg_covar


def _fitted_mixture(weights, means, covariances, kind, reg_covar):
    """A GaussianMixture holding these parameters, as if fitted."""
    mixture = GaussianMixture(
        n_components=len(weights), covariance_type=kind, reg_covar=reg_covar
    )
    factors = _precision_factors(covariances, kind)
    mixture.weights_, mixture.means_ = weights, means
    mixture.covariances_, mixture.precisions_cholesky_ = covariances, factors
    if kind == "full":
        mixture.precisions_ = factors @ np.transpose(factors, (0, 2, 1))
    elif kind == "tied":
        mixture.precisions_ = factors @ factors.T
    else:
        mixture.precisions_ = factors**2
    mixture.converged_, mixture.n_iter_, mixture.lower_bound_ = True, 1, -np.inf
    mixture.n_features_in_ = means.shape[1]
    return mixture


def _precision_factors(covariances, kind):
    if kind == "full":
        return np.stack([_precision_cholesky(c) for c in covariances])
    if kind == "tied":
        return _precision_cholesky(covariances)
    return 1.0 / np.sqrt(covariances)


# Permutations per task: a fixed plan, so results do not depend on n_jobs.
_BATCH = 16


def _split_statistics(models, rows, request, pairs=None):
    """{view: {divergence: (value, std_error)}} between a split's two parts."""
    pairs = models.pairs(rows) if pairs is None else pairs
    return {view: request.between(*pair, warn=False) for view, pair in pairs.items()}


def _batch(models, request, indices, n_p):
    with single_threaded():
        return [
            _split_statistics(
                models,
                split_rows(request.entropy, index, len(models.X), n_p)[0],
                request,
            )
            for index in indices
        ]


def permuted_view_statistics(models, n_p, request, n_permutations, n_jobs):
    """The views' divergences for each random split, in order."""
    tasks = [
        delayed(_batch)(
            models, request, range(start, min(start + _BATCH, n_permutations)), n_p
        )
        for start in range(0, n_permutations, _BATCH)
    ]
    return [
        result
        for batch in run_tasks(tasks, n_jobs, "Permutations", "batches")
        for result in batch
    ]


def observed_split(models, n_p, request):
    """The observed split (the first n_p rows): its 'mixture' models and statistics."""
    pairs = models.pairs(np.arange(n_p))
    return pairs["mixture"], _split_statistics(models, None, request, pairs)
