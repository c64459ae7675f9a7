"""Gaussian mixture fits that cannot support a divergence, and the warning for them.

Three measured failure modes, each of which makes a divergence between fitted
models meaningless rather than merely noisy:

- a variance at the ``reg_covar`` floor: a feature (or, for full covariances,
  a direction) that is constant within a component gets variance
  ``reg_covar`` (1e-6 by default), and any difference in it costs about
  ``shift**2 / (2 * reg_covar)`` nats. Two halves of one digits class gave
  KL = 235 000 bits and JS = 1 bit, the largest possible value;
- more free parameters than rows: the fit interpolates its data;
- components with fewer rows than their covariance needs (d + 1 for 'full',
  2 otherwise), whose variances collapse.
"""

import warnings

import numpy as np
from sklearn.mixture import GaussianMixture

from ._models import split_pipeline

# A variance is at the floor when at most this multiple of reg_covar: then at
# least half of it is the regulariser rather than the data.
FLOOR_FACTOR = 2.0
# Features listed by name in a warning before "and N more".
_LISTED = 8


class DegenerateFitWarning(UserWarning):
    """A fitted Gaussian mixture that cannot support a divergence.

    Raised, naming the features or components involved and what to do, when a
    model that the package fits or is given has variances at the
    ``reg_covar`` floor (constant features), more free parameters than it has
    rows of data, or components with too few rows for their covariance.
    Divergences from such models are dominated by the fitting artefact: for
    example, the two halves of one class of scikit-learn's digits data gave
    the largest possible JS divergence, 1 bit.

    See Also
    --------
    GMMDivergence : Warns about the models of P and Q.
    divergence_test : Warns about the model configuration it refits.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import DegenerateFitWarning, GMMDivergence
    >>> rng = np.random.default_rng(0)
    >>> X_p, X_q = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    >>> X_p[:, 2] = 0.0  # constant in P, continuous in Q
    >>> diagonal = GaussianMixture(covariance_type="diag")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     divergence = GMMDivergence(diagonal, n_samples=2048, random_state=0)
    ...     divergence = divergence.fit(X_p, X_q)
    >>> caught[0].category.__name__
    'DegenerateFitWarning'
    >>> print(str(caught[0].message).split(" of components")[0])
    P's model has variance at the reg_covar floor (1e-06) in features [2]

    A P whose feature really is a point mass is singular to Q, and JS is
    then log 2 for the true distributions too; the warning says where the
    number comes from.
    """


def n_free_parameters(n_components, n_features, covariance_type):
    """Free parameters of a Gaussian mixture (as its BIC counts them)."""
    covariance = {
        "full": n_components * n_features * (n_features + 1) // 2,
        "tied": n_features * (n_features + 1) // 2,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]
    return covariance + n_components * n_features + n_components - 1


def _variances(mixture):
    """Per-component, per-feature variances, shape (n_components, n_features)."""
    covariances = np.asarray(mixture.covariances_, dtype=np.float64)
    k, d = mixture.means_.shape
    kind = mixture.covariance_type
    if kind == "full":
        return np.diagonal(covariances, axis1=1, axis2=2)
    if kind == "tied":
        return np.broadcast_to(np.diag(covariances), (k, d))
    if kind == "diag":
        return covariances
    return np.broadcast_to(covariances[:, None], (k, d))


def floor_variances(mixture):
    """Boolean (n_components, n_features): variance at the reg_covar floor."""
    return _variances(mixture) <= FLOOR_FACTOR * mixture.reg_covar


def _has_flat_direction(mixture):
    """Components whose covariance has an eigenvalue at the floor ('full', 'tied')."""
    covariances = np.asarray(mixture.covariances_, dtype=np.float64)
    if mixture.covariance_type == "tied":
        covariances = covariances[None]
    smallest = np.linalg.eigvalsh(covariances)[:, 0]
    flat = smallest <= FLOOR_FACTOR * mixture.reg_covar
    return np.broadcast_to(flat, (mixture.n_components,))


def starved_components(mixture, n_rows):
    """Components with fewer (weighted) rows than their covariance needs.

    Every component needs 2 rows, and d + 1 for a full covariance; a tied
    covariance needs d + 1 residual degrees of freedom in all. Components
    with less than one row's weight are empty, not starved.
    """
    k, d = mixture.means_.shape
    if mixture.covariance_type == "tied" and n_rows - k <= d:
        return np.arange(k)
    needed = d + 1 if mixture.covariance_type == "full" else 2
    rows = mixture.weights_ * n_rows
    # Under one row's weight a component is empty rather than collapsed: a
    # configuration chosen on pooled data has such components in a data set
    # that lacks what they model, and they add less than 1 / n_rows of mass.
    return np.flatnonzero((rows < needed) & (rows >= 1.0))


def _listed(items):
    items = [str(item) for item in items]
    shown = ", ".join(items[:_LISTED])
    extra = len(items) - _LISTED
    return shown + (f" and {extra} more" if extra > 0 else "")


def _feature_names(mixture):
    names = getattr(mixture, "feature_names_in_", None)
    if names is not None:
        return [repr(str(name)) for name in names]
    return [str(j) for j in range(mixture.means_.shape[1])]


def fit_problems(mixture, n_rows=None):
    """Sentences describing why ``mixture`` cannot support a divergence.

    Only :class:`~sklearn.mixture.GaussianMixture` is checked (a
    BayesianGaussianMixture's priors keep its variances off the floor and
    switch off its spare components). ``n_rows`` is the number of rows it was
    fitted on, when known.
    """
    if type(mixture) is not GaussianMixture:
        return []
    problems = []
    starved = np.array([], dtype=int)
    if n_rows is not None:
        # A component fitted to a handful of rows collapses onto them, in
        # every feature: that is its problem, not constant features; and an
        # empty one (under one row) has no data to be constant in.
        starved = np.union1d(
            starved_components(mixture, n_rows),
            np.flatnonzero(mixture.weights_ * n_rows < 1.0),
        )
    floor = floor_variances(mixture).copy()
    floor[starved] = False
    if floor.any():
        names = _feature_names(mixture)
        features = np.flatnonzero(floor.any(axis=0))
        components = np.flatnonzero(floor.any(axis=1))
        problems.append(
            f"variance at the reg_covar floor ({mixture.reg_covar:g}) in features "
            f"[{_listed(names[j] for j in features)}] of components "
            f"[{_listed(components)}]: those features are constant there, and "
            "any difference in them costs about shift**2 / (2 * reg_covar) nats. "
            "Drop constant features from both data sets (for example with "
            "sklearn.feature_selection.VarianceThreshold), or standardise the "
            "data and raise reg_covar"
        )
    elif mixture.covariance_type in ("full", "tied"):
        flat = np.setdiff1d(np.flatnonzero(_has_flat_direction(mixture)), starved)
        if flat.size:
            problems.append(
                f"a covariance eigenvalue at the reg_covar floor "
                f"({mixture.reg_covar:g}) in components [{_listed(flat)}]: a linear "
                "combination of features is constant there (collinear features). "
                "Remove the redundant features, or use covariance_type='diag'"
            )
    if n_rows is not None:
        k, d = mixture.means_.shape
        n_parameters = n_free_parameters(k, d, mixture.covariance_type)
        if n_parameters >= n_rows:
            problems.append(
                f"{n_parameters} free parameters for {n_rows} rows, so the fit "
                "interpolates its data. Use fewer components, covariance_type="
                "'diag' or 'spherical', fewer features (PCA) or more data"
            )
        starved = starved_components(mixture, n_rows)
        if starved.size:
            rows = ", ".join(f"{w * n_rows:.3g}" for w in mixture.weights_[starved])
            problems.append(
                f"components [{_listed(starved)}] that hold too few rows (weight "
                f"x rows = {rows}) for their '{mixture.covariance_type}' "
                "covariance, so they collapse onto those rows. Use fewer "
                "components"
            )
    return problems


def warn_if_degenerate(model, name, n_rows=None, stacklevel=3):
    """Warn, naming every problem of ``name``'s model (or its pipeline's last step).

    Called by public functions only, so that the warning points at the caller.
    """
    problems = fit_problems(split_pipeline(model, name)[1], n_rows)
    if problems:
        warnings.warn(
            f"{name}'s model has " + "; and ".join(problems) + ".",
            DegenerateFitWarning,
            stacklevel=stacklevel,
        )
