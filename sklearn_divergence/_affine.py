"""Densities seen through the affine transformers of a scikit-learn pipeline.

A pipeline such as ``make_pipeline(StandardScaler(), GaussianMixture())`` models
z = T(x), not x. When T is affine, z = x A^T + b, a Gaussian mixture in one
space is exactly a Gaussian mixture in the other:

* pushed forward (x-space mixture to z-space): mean A mu + b, covariance
  A Sigma A^T; A may drop dimensions (a PCA), which gives the marginal;
* pulled back (z-space mixture to x-space, A square and invertible): mean
  A^{-1}(mu - b), covariance A^{-1} Sigma A^{-T}. The density picks up the
  Jacobian |det A|, which ``Pipeline.score_samples`` leaves out.

New Cholesky factors come from a QR factorisation of the mapped factor
(A L)^T = Q R, since (A L)(A L)^T = R^T R: no covariance matrix is formed or
inverted.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from ._gaussian import GaussianMixtureParams

# Points well away from the origin, where clipping or any non-linearity of a
# transformer shows up.
_PROBE_SCALES = (0.5, 3.0, 100.0, 1e4)
# Relative tolerance of the affinity check: transform() rounds its output.
_AFFINE_RTOL = 1e-8
# Relative size of the smallest singular value (or Cholesky pivot) below which
# a map or a factor counts as singular: rounding level, so that badly scaled
# but valid features (standard deviations of 1e-4 and 1e5) pass.
_RANK_RTOL = 1e-13


@dataclass(frozen=True, eq=False)
class AffineMap:
    """z = x @ matrix.T + offset, with ``matrix`` of shape (d_out, d_in)."""

    matrix: np.ndarray
    offset: np.ndarray

    def apply(self, X):
        return X @ self.matrix.T + self.offset

    def then(self, other):
        """The map x -> other.apply(self.apply(x))."""
        return AffineMap(other.matrix @ self.matrix, other.apply(self.offset))

    def solve(self, Z):
        """x such that apply(x) = z, for a square, invertible map."""
        return np.linalg.solve(self.matrix, (Z - self.offset).T).T

    @property
    def log_abs_det(self):
        return np.linalg.slogdet(self.matrix)[1]

    def check_invertible(self, name):
        d_out, d_in = self.matrix.shape
        if d_out != d_in:
            raise ValueError(
                f"The transformers of {name} map {d_in} features to {d_out}, so "
                "its density cannot be brought back to the input space; use "
                "transformers that keep every feature (e.g. StandardScaler or "
                "PCA with n_components=None)."
            )
        singular_values = np.linalg.svd(self.matrix, compute_uv=False)
        if singular_values.min() <= _RANK_RTOL * singular_values.max():
            raise ValueError(
                f"The transformers of {name} are not invertible (a constant or "
                "collinear feature?), so its density has no input-space form."
            )


def affine_map(transformer, name):
    """The affine map computed by a fitted transformer, such as ``pipeline[:-1]``.

    Probes the transformer at the origin and the unit vectors, then checks the
    fitted map at points up to 1e4 away. Raises ValueError for a transformer
    that is not affine.
    """
    # A leading 'passthrough' step records no n_features_in_; the next one does.
    steps = [step for _, step in getattr(transformer, "steps", [(None, transformer)])]
    n_features = next(
        (step.n_features_in_ for step in steps if hasattr(step, "n_features_in_")),
        None,
    )
    if n_features is None:
        raise ValueError(
            f"The transformers of {name} do not record n_features_in_; fit them "
            "on a 2-D array first."
        )
    rng = np.random.default_rng(0)
    checks = rng.standard_normal((len(_PROBE_SCALES), n_features))
    checks *= np.array(_PROBE_SCALES)[:, None]
    probes = np.vstack([np.zeros(n_features), np.eye(n_features), checks])
    try:
        # A non-linear map such as exp may overflow at the far probes: that
        # is the answer sought, not a warning for the user.
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            # Pipelines fitted on data frames warn about plain arrays.
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            images = transformer.transform(probes)
        images = np.asarray(
            images.toarray() if hasattr(images, "toarray") else images,
            dtype=np.float64,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"The transformers of {name} could not be probed for an affine map: {error}"
        ) from error
    if images.ndim != 2 or images.shape[0] != probes.shape[0]:
        raise ValueError(
            f"The transformers of {name} returned shape {images.shape} for "
            f"{probes.shape[0]} rows; expected a 2-D array with a row per input."
        )
    if not np.all(np.isfinite(images)):
        raise _not_affine(name)
    offset = images[0]
    matrix = (images[1 : n_features + 1] - offset).T
    expected = checks @ matrix.T + offset
    scale = max(np.abs(images).max(), 1.0)
    if not np.allclose(
        images[n_features + 1 :], expected, rtol=_AFFINE_RTOL, atol=_AFFINE_RTOL * scale
    ):
        raise _not_affine(name)
    return AffineMap(matrix, offset)


def _not_affine(name):
    return ValueError(
        f"The transformers of {name} are not affine (z = A x + b), so the "
        "density of the pipeline's final step cannot be mapped exactly "
        "between the input space and the transformed space. Use affine "
        "transformers such as StandardScaler, MinMaxScaler or PCA."
    )


def _shares_one_covariance(mixture):
    """True for 'tied', and for diag or spherical components all alike (a KDE)."""
    if mixture.covariance_type == "tied":
        return True
    pc = mixture.precisions_cholesky
    return mixture.covariance_type in ("diag", "spherical") and bool(
        np.all(pc == pc[0])
    )


def _mapped_mixture(mixture, map_factor, means, name):
    """The mixture with covariance factors L_k replaced by map_factor(L_k).

    Components that share one covariance are mapped once, as 'tied'.
    """
    shared = _shares_one_covariance(mixture)
    components = [0] if shared else range(mixture.n_components)
    factors = np.stack([map_factor(mixture.covariance_cholesky(k)) for k in components])
    upper = np.linalg.qr(factors.transpose(0, 2, 1), mode="r")
    diagonal = np.abs(np.diagonal(upper, axis1=1, axis2=2))
    if upper.shape[1] != upper.shape[2] or np.any(
        diagonal.min(axis=1) <= _RANK_RTOL * diagonal.max(axis=1)
    ):
        raise ValueError(
            f"The transformers of {name} map its Gaussian components onto a "
            "lower-dimensional set, where they have no density."
        )
    # Sigma' = R^T R; with a positive diagonal, U = R^{-1} is upper triangular
    # with U U^T = Sigma'^{-1}, as scikit-learn stores precisions_cholesky_.
    upper *= np.sign(np.diagonal(upper, axis1=1, axis2=2))[:, :, None]
    identity = np.eye(upper.shape[1])
    precisions_cholesky = np.stack(
        [solve_triangular(factor, identity, lower=False) for factor in upper]
    )
    return GaussianMixtureParams(
        weights=mixture.weights,
        means=means,
        covariance_type="tied" if shared else "full",
        precisions_cholesky=precisions_cholesky[0] if shared else precisions_cholesky,
    )


def push_forward(mixture, affine, name):
    """The mixture of z = A x + b for x drawn from ``mixture``."""
    return _mapped_mixture(
        mixture,
        lambda factor: affine.matrix @ factor,
        affine.apply(mixture.means),
        name,
    )


def pull_back(mixture, affine, name):
    """The mixture of x when z = A x + b is drawn from ``mixture`` (A invertible)."""
    affine.check_invertible(name)
    return _mapped_mixture(
        mixture,
        lambda factor: np.linalg.solve(affine.matrix, factor),
        affine.solve(mixture.means),
        name,
    )
