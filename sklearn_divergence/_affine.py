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
# Relative tolerance of the affinity check and of the rank checks.
_RTOL = 1e-8


@dataclass(frozen=True, eq=False)
class AffineMap:
    """z = x @ matrix.T + offset, with ``matrix`` of shape (d_out, d_in)."""

    matrix: np.ndarray
    offset: np.ndarray

    def apply(self, X):
        return X @ self.matrix.T + self.offset

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
        if singular_values.min() <= _RTOL * singular_values.max():
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
    n_features = getattr(transformer, "n_features_in_", None)
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
        with warnings.catch_warnings():
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
    offset = images[0]
    matrix = (images[1 : n_features + 1] - offset).T
    expected = checks @ matrix.T + offset
    scale = max(np.abs(images).max(), 1.0)
    if images.ndim != 2 or not np.allclose(
        images[n_features + 1 :], expected, rtol=_RTOL, atol=_RTOL * scale
    ):
        raise ValueError(
            f"The transformers of {name} are not affine (z = A x + b), so the "
            "density of the pipeline's final step cannot be mapped exactly "
            "between the input space and the transformed space. Use affine "
            "transformers such as StandardScaler, MinMaxScaler or PCA."
        )
    return AffineMap(matrix, offset)


def _mapped_mixture(mixture, map_factor, means, name):
    """The mixture with covariance factors L_k replaced by map_factor(L_k)."""
    tied = mixture.covariance_type == "tied"
    components = [0] if tied else range(mixture.n_components)
    precisions_cholesky = []
    for k in components:
        mapped = map_factor(mixture.covariance_cholesky(k))
        upper = np.linalg.qr(mapped.T, mode="r")
        diagonal = np.diagonal(upper)
        if upper.shape[0] != upper.shape[1] or np.abs(diagonal).min() <= (
            _RTOL * np.abs(diagonal).max()
        ):
            raise ValueError(
                f"The transformers of {name} map its Gaussian components onto a "
                "lower-dimensional set, where they have no density."
            )
        upper *= np.sign(diagonal)[:, None]
        # Sigma' = R^T R, so U = R^{-1} is upper triangular with U U^T = Sigma'^-1.
        precisions_cholesky.append(
            solve_triangular(upper, np.eye(upper.shape[0]), lower=False)
        )
    return GaussianMixtureParams(
        weights=mixture.weights,
        means=means,
        covariance_type="tied" if tied else "full",
        precisions_cholesky=(
            precisions_cholesky[0] if tied else np.stack(precisions_cholesky)
        ),
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
