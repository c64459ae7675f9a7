"""The default density model: a GaussianMixture configuration chosen by BIC.

The configuration is chosen for parts of ``n_rows`` rows (each data set, or
the smaller one), which may be fewer than the rows it is chosen on (the
pooled data of a two-sample comparison):

- only configurations with at most ``n_rows / ROWS_PER_PARAMETER`` free
  parameters are considered: the plug-in divergence's bias grows with the
  parameters per row, and it was all noise at 62 parameters for 80 rows;
- BIC is taken at the part's size, ``-2 n mean_log_likelihood + k log n``
  with ``n`` the part's rows, so that the pooled data, twice as many rows,
  do not buy a configuration that the parts cannot support;
- for each covariance type, the number of components grows from 1 until
  BIC has not improved for ``PATIENCE`` steps, instead of a full grid of 40
  fits;
- on more than ``SELECTION_ROWS`` rows, the choice is made on a random
  subset of that many rows, and BIC at that subset's size, which at most
  prefers a simpler configuration.
"""

import numpy as np
from sklearn.mixture import GaussianMixture

from ._data_space import RELATIVE_FLOOR, ROWS_PER_PARAMETER
from ._diagnostics import floor_variances, n_free_parameters, starved_components
from ._fitting import refit, warm_started
from ._gaussian import COVARIANCE_TYPES

# The variance floor in data's own coordinates: GaussianMixture's default.
RAW_REG_COVAR = GaussianMixture().reg_covar
MAX_COMPONENTS = 10
PATIENCE = 2
SELECTION_ROWS = 8192


def _is_supported(model, X, n_rows):
    """Whether parts of ``n_rows`` rows like ``X`` can support the fit.

    On small samples BIC prefers components sitting on a few points, or on
    one value of a discrete feature, whose variances collapse to
    ``reg_covar`` and whose likelihood is huge. Such fits are left out: those
    with too few rows per component, and those with a variance at the floor
    in a feature that the data do vary in.
    """
    if starved_components(model, n_rows).size:
        return False
    varying = np.ptp(X, axis=0) > 0
    return not (floor_variances(model) & varying).any()


def _affordable(n_components, n_features, covariance_type, n_rows):
    parameters = n_free_parameters(n_components, n_features, covariance_type)
    return parameters * ROWS_PER_PARAMETER <= n_rows and 2 * n_components <= n_rows


def _bic_path(X, covariance_type, seed, n_rows, reg_covar):
    """(BIC, n_components, model) for 1, 2, ... components until BIC stalls."""
    path, best, stalled = [], np.inf, 0
    for n_components in range(1, MAX_COMPONENTS + 1):
        always = (n_components, covariance_type) == (1, "spherical")
        affordable = _affordable(n_components, X.shape[1], covariance_type, n_rows)
        if not (always or affordable):
            break
        model = refit(
            GaussianMixture(
                n_components=n_components,
                covariance_type=covariance_type,
                reg_covar=reg_covar,
                random_state=seed,
            ),
            X,
        )
        parameters = n_free_parameters(n_components, X.shape[1], covariance_type)
        bic = (
            -2.0 * n_rows * model.score(X) + parameters * np.log(n_rows)
            if _is_supported(model, X, n_rows)
            else np.inf
        )
        path.append((bic, n_components, model))
        stalled = 0 if bic < best else stalled + 1
        best = min(best, bic)
        if stalled == PATIENCE:
            break
    return path


def choose_mixture(X, *, n_rows, random_state, reg_covar=RAW_REG_COVAR):
    """Choose a GaussianMixture configuration for parts of ``n_rows`` rows like X.

    Returns the chosen configuration fitted on ``X`` (or on the subset it
    was chosen on); :func:`fit_default` and the callers refit it, starting
    EM from it, on each part. Fits that :func:`_is_supported` rejects are
    left out, except that one spherical component always remains. Ties go
    to fewer components, then to the covariance types in the order full,
    tied, diag, spherical. ``X`` must not depend on which part each row
    belongs to: the caller sorts pooled rows.
    """
    rng = np.random.default_rng(random_state)
    if X.shape[0] > SELECTION_ROWS:
        X = X[np.sort(rng.choice(X.shape[0], SELECTION_ROWS, replace=False))]
    n_rows = min(n_rows, X.shape[0])
    # In sequence: on at most SELECTION_ROWS rows the paths take about half
    # a second in all, less than starting joblib's worker processes.
    paths = [
        _bic_path(X, covariance_type, random_state, n_rows, reg_covar)
        for covariance_type in COVARIANCE_TYPES
    ]
    candidates = [
        (bic, n_components, order, model)
        for order, path in enumerate(paths)
        for bic, n_components, model in path
    ]
    if all(np.isinf(bic) for bic, *_ in candidates):
        # Not even one spherical component is supported; it is still the
        # simplest model, and the caller's DegenerateFitWarning will say why.
        return paths[COVARIANCE_TYPES.index("spherical")][0][2]
    return min(candidates, key=lambda candidate: candidate[:3])[3]


def default_template(X, *, random_state, n_rows=None, reg_covar=RELATIVE_FLOOR):
    """The default model's configuration for parts of ``n_rows`` rows like ``X``.

    An unfitted GaussianMixture that starts EM from the chosen fit and runs
    it to convergence. ``n_rows`` defaults to the rows of ``X``.
    """
    n_rows = X.shape[0] if n_rows is None else n_rows
    chosen = choose_mixture(
        X, n_rows=n_rows, random_state=random_state, reg_covar=reg_covar
    )
    return warm_started(chosen, n_rows)


def fit_default(X, *, random_state):
    """The default model of one data set in its own coordinates, fitted on it."""
    template = default_template(X, random_state=random_state, reg_covar=RAW_REG_COVAR)
    return refit(template, X)


def _sorted_rows(X):
    """The rows of ``X`` in an order that depends only on the rows themselves.

    A choice made on the pooled rows in this order depends only on the
    pooled data, not on which data set each row came from: otherwise the
    observed split of a permutation test would not be exchangeable with the
    permuted ones. The rows are sorted by one fixed projection (one argsort
    instead of a lexicographic sort over every feature, which took 0.3 s for
    200 000 rows of 10 features); only if two different rows tie there does
    the lexicographic order decide.
    """
    weights = np.random.default_rng(0).uniform(1.0, 2.0, size=X.shape[1])
    keys = X @ weights
    order = np.argsort(keys, kind="stable")
    if np.any(np.diff(keys[order]) == 0):
        order = np.lexsort((*X.T[::-1], keys))
    return X[order]


def pooled_template(X_p, X_q, *, random_state):
    """One configuration for both data sets, chosen on their pooled rows.

    The choice sees the pooled rows alone, never which data set a row came
    from, so :func:`divergence_test` can run the same procedure on every
    split.
    """
    return default_template(
        _sorted_rows(np.vstack([X_p, X_q])),
        random_state=random_state,
        n_rows=min(X_p.shape[0], X_q.shape[0]),
    )
