"""The coordinates in which the default model meets two data sets.

Learned on the pooled rows of both data sets, without their labels, so that a
permutation test that refits in them stays exact:

1. features constant in the pooled data are dropped: both data sets hold the
   same value there, which contributes exactly 0 to any divergence;
2. features whose values lie on a grid (integers, counts, pixels, a few
   levels), with a step not negligible against the variance floor, are
   dequantised: uniform noise over one grid step is added to
   every value, as in the evaluation of density models [1]_. The noise is
   drawn independently per row, so rows stay exchangeable, and a value's
   grid cell gives it back, so the divergence between the dequantised
   distributions equals the divergence between the discrete ones; a feature
   constant in one data set and varying in the other then costs a finite
   divergence instead of ``log 2`` through a ``reg_covar`` variance;
3. the features are standardised on the pooled data, so that one variance
   floor, ``RELATIVE_FLOOR``, is the same fraction of every feature's spread.
   One invertible affine map applied to both sides changes no divergence;
4. when there are more features than the smaller data set's rows support,
   the standardised features are projected on the pooled data's leading
   principal components, whitened. The divergence is then that between the
   projected distributions, a lower bound on the divergence in all features
   by the data-processing inequality.

References
----------
.. [1] L. Theis, A. van den Oord and M. Bethge, "A note on the evaluation of
   generative models", International Conference on Learning Representations,
   2016.
"""

from dataclasses import dataclass, field

import numpy as np

from ._diagnostics import n_free_parameters

# The variance floor of the default model, as a fraction of each coordinate's
# pooled variance (GaussianMixture's reg_covar in standardised coordinates).
RELATIVE_FLOOR = 1e-4
# A model must have at most this fraction of the rows of the part it is
# fitted to as free parameters: the plug-in divergence's bias grows with
# parameters per row, and at a fraction near 1 it is all noise.
ROWS_PER_PARAMETER = 4
# spawn_key prefix of the dequantisation noise (see _fitting's streams).
DEQUANTISATION_STREAM = 5
# A grid's values must be integer multiples of its step to this tolerance,
# and span at most this many steps (beyond that the step is rounding noise).
_GRID_TOLERANCE = 1e-6
_MAX_GRID_STEPS = 1e7


def supported_dimensions(n_rows):
    """The most coordinates in which one full-covariance Gaussian fits n_rows rows."""
    n_dimensions = 1
    while n_free_parameters(1, n_dimensions + 1, "full") * ROWS_PER_PARAMETER <= n_rows:
        n_dimensions += 1
    return n_dimensions


def grid_step(values):
    """The step of the grid that ``values`` lie on, or 0.0 if they do not.

    Values lie on a grid when every one is an integer multiple of the
    smallest gap between distinct values away from the smallest one.
    """
    levels = np.unique(values)
    if levels.size < 2:
        return 0.0
    step = float(np.min(np.diff(levels)))
    multiples = (levels - levels[0]) / step
    if multiples[-1] > _MAX_GRID_STEPS:
        return 0.0
    on_grid = np.abs(multiples - np.round(multiples)) <= _GRID_TOLERANCE * np.maximum(
        1.0, multiples
    )
    return step if on_grid.all() else 0.0


def _describe(indices, names):
    return tuple(str(names[j]) if names is not None else int(j) for j in indices)


@dataclass(frozen=True, eq=False)
class DataSpace:
    """The coordinates in which the default model compared two data sets.

    Learned on the pooled rows of both data sets, without their labels:
    constant features dropped, grid-valued features dequantised,
    standardisation, and a projection on leading principal components when
    there are more features than the rows support (the module docstring of
    ``sklearn_divergence._data_space`` gives the reasons).

    Attributes
    ----------
    n_features_in : int
        Features of the data given.
    n_dimensions : int
        Coordinates in which the models were fitted and the divergences
        measured.
    projected : bool
        Whether the features were projected on ``n_dimensions`` principal
        components of the pooled data. The divergences are then those
        between the projected distributions: lower bounds on the divergences
        in all features.
    dropped : tuple
        Features constant in the pooled data (names, or column indices),
        which contribute exactly 0 and were left out.
    dequantized : dict
        Feature (name or index) to grid step, for the features whose values
        lie on a grid and which were dequantised by adding uniform noise
        over one step. The divergences are then those between the
        dequantised distributions, which equal the divergences between the
        discrete ones.

    See Also
    --------
    GMMDivergence : Its ``data_space_``.
    divergence_test : Its result's ``data_space``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_divergence import GMMDivergence
    >>> X, y = load_digits(return_X_y=True)
    >>> divergence = GMMDivergence(n_samples=4096, random_state=0)
    >>> space = divergence.fit(X[y == 3], X[y == 8]).data_space_
    >>> space.n_features_in, space.n_dimensions, space.projected
    (64, 7, True)
    >>> for part in space.describe().split("; "):
    ...     print(part)
    7 principal components of 54 features (a lower bound)
    10 constant features dropped
    54 grid-valued features dequantised
    >>> space.dropped
    (0, 23, 24, 31, 32, 39, 40, 47, 48, 56)
    >>> space.transform(X[:2]).shape
    (2, 7)
    """

    n_features_in: int
    n_dimensions: int
    projected: bool
    dropped: tuple
    dequantized: dict
    kept: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    center: np.ndarray = field(repr=False)
    matrix: np.ndarray = field(repr=False)

    @classmethod
    def learn(cls, pooled, n_rows, *, entropy, dequantize, max_dimensions, names):
        """Learn the coordinates from the pooled rows; return them and the rows in them.

        ``n_rows`` is the size of the smaller data set, ``max_dimensions``
        'auto', None (no projection) or an int, ``names`` the feature names
        or None. The pooled rows are dequantised with the noise stream of
        ``entropy`` (row i's noise depends only on i), and come back mapped.
        """
        varying = np.ptp(pooled, axis=0) > 0
        kept = np.flatnonzero(varying)
        steps = np.array([grid_step(pooled[:, j]) if dequantize else 0.0 for j in kept])
        # Noise below the variance floor changes nothing: values rounded to
        # a fine grid (measurements to a few decimals) are left as they are.
        spread = pooled[:, kept].var(axis=0)
        steps[steps**2 / 12.0 < RELATIVE_FLOOR * spread] = 0.0
        values = _dequantised(pooled[:, kept], steps, entropy)
        center = values.mean(axis=0)
        scale = values.std(axis=0)
        if max_dimensions == "auto":
            max_dimensions = supported_dimensions(n_rows)
        projected = max_dimensions is not None and kept.size > max_dimensions
        if projected:
            standardised = (values - center) / scale
            covariance = standardised.T @ standardised / standardised.shape[0]
            # eigh returns ascending eigenvalues: the last ones lead.
            eigenvalues, vectors = np.linalg.eigh(covariance)
            leading = slice(None, -max_dimensions - 1, -1)
            matrix = vectors[:, leading] / (
                scale[:, None] * np.sqrt(eigenvalues[leading])
            )
        else:
            matrix = np.diag(1.0 / scale)
        space = cls(
            n_features_in=pooled.shape[1],
            n_dimensions=matrix.shape[1],
            projected=bool(projected),
            dropped=_describe(np.flatnonzero(~varying), names),
            dequantized=dict(
                zip(
                    _describe(kept[steps > 0], names),
                    (float(step) for step in steps[steps > 0]),
                    strict=True,
                )
            ),
            kept=kept,
            steps=steps,
            center=center,
            matrix=matrix,
        )
        return space, (values - center) @ matrix

    def transform(self, X):
        """Map data into the coordinates, without dequantisation noise.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_in)
            Data with the features of the data sets compared.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_dimensions)
            The data in the coordinates of the fitted models.
        """
        return (np.asarray(X, dtype=np.float64)[:, self.kept] - self.center) @ (
            self.matrix
        )

    def describe(self):
        """One line saying what the divergences were measured between."""
        parts = [f"{self.n_dimensions} standardised coordinates"]
        if self.projected:
            parts[0] = (
                f"{self.n_dimensions} principal components of "
                f"{self.kept.size} features (a lower bound)"
            )
        if self.dropped:
            parts.append(f"{len(self.dropped)} constant features dropped")
        if self.dequantized:
            parts.append(f"{len(self.dequantized)} grid-valued features dequantised")
        return "; ".join(parts)


def _dequantised(values, steps, entropy):
    """``values`` plus uniform noise over one grid step where the step is > 0."""
    on_grid = np.flatnonzero(steps > 0)
    if not on_grid.size:
        return values.copy()
    rng = np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(DEQUANTISATION_STREAM,))
    )
    noise = rng.uniform(-0.5, 0.5, size=(values.shape[0], on_grid.size))
    values = values.copy()
    values[:, on_grid] += noise * steps[on_grid]
    return values


def learn_pair(X_p, X_q, *, entropy, dequantize, max_dimensions, names):
    """The coordinates learned on the pooled rows, and both data sets in them."""
    space, pooled = DataSpace.learn(
        np.vstack([X_p, X_q]),
        min(X_p.shape[0], X_q.shape[0]),
        entropy=entropy,
        dequantize=dequantize,
        max_dimensions=max_dimensions,
        names=names,
    )
    return space, (pooled[: X_p.shape[0]], pooled[X_p.shape[0] :])
