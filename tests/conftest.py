"""Shared builders: mixtures with chosen parameters and quadrature references."""

import copy
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate
from scipy.linalg import cholesky, solve_triangular
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture


def precision_cholesky(covariances, covariance_type):
    """Upper factor U with U U^T = Sigma^{-1}, stored as scikit-learn does."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)
    stack = covariances if covariance_type == "full" else covariances[None]
    factors = []
    for covariance in stack:
        lower = cholesky(covariance, lower=True)
        eye = np.eye(covariance.shape[0])
        factors.append(solve_triangular(lower, eye, lower=True).T)
    factors = np.array(factors)
    return factors if covariance_type == "full" else factors[0]


def make_mixture(weights, means, covariances, covariance_type="full"):
    """A GaussianMixture that looks fitted, with exactly these parameters."""
    weights = np.asarray(weights, dtype=float)
    means = np.atleast_2d(np.asarray(means, dtype=float))
    covariances = np.asarray(covariances, dtype=float)
    model = GaussianMixture(weights.size, covariance_type=covariance_type)
    model.weights_ = weights / weights.sum()
    model.means_ = means
    model.covariances_ = covariances
    model.precisions_cholesky_ = precision_cholesky(covariances, covariance_type)
    model.converged_ = True
    model.n_features_in_ = means.shape[1]
    return model


def draw(model, n_samples, seed):
    """Points from a GaussianMixture, reproducibly and in random order.

    ``GaussianMixture.sample`` reseeds from ``model.random_state`` (None here)
    and groups its rows by component, so seed a copy and shuffle.
    """
    seeded = copy.copy(model)
    seeded.random_state = seed
    X = seeded.sample(n_samples)[0]
    np.random.default_rng(seed).shuffle(X)
    return X


def mixture_1d(weights, means, sds):
    """1-D full-covariance mixture from weights, means and standard deviations."""
    sds = np.asarray(sds, dtype=float)
    return make_mixture(
        weights, np.reshape(means, (-1, 1)), (sds**2).reshape(-1, 1, 1), "full"
    )


def log_pdf_1d(model, x):
    """Log-density of a 1-D mixture, written out (quad calls it per point)."""
    sds = np.sqrt(model.covariances_.reshape(-1))
    means = model.means_.reshape(-1)
    z = (np.asarray(x)[..., None] - means) / sds
    parts = -0.5 * z * z - np.log(sds) - 0.5 * np.log(2 * np.pi)
    return logsumexp(parts + np.log(model.weights_), axis=-1)


def _quad(function, models, epsabs=1e-13):
    means = np.concatenate([m.means_.reshape(-1) for m in models])
    sds = np.concatenate([np.sqrt(m.covariances_.reshape(-1)) for m in models])
    low, high = (means - 40 * sds).min(), (means + 40 * sds).max()
    points = np.sort(np.concatenate([means, means - 3 * sds, means + 3 * sds]))
    value, error = integrate.quad(
        function, low, high, points=points, limit=500, epsabs=epsabs, epsrel=1e-12
    )
    assert error < max(1e-8, 1e-8 * abs(value))
    return value


def quad_kl(p, q):
    """KL(p || q) by adaptive quadrature of the log-space integrand (1-D)."""

    def integrand(x):
        log_p = log_pdf_1d(p, x)
        return np.exp(log_p) * (log_p - log_pdf_1d(q, x))

    return _quad(integrand, [p, q])


def quad_js(p, q):
    """JS(p, q) by adaptive quadrature (1-D), in nats."""

    def integrand(x):
        log_p, log_q = log_pdf_1d(p, x), log_pdf_1d(q, x)
        log_m = np.logaddexp(log_p, log_q) - np.log(2)
        return 0.5 * (np.exp(log_p) * (log_p - log_m) + np.exp(log_q) * (log_q - log_m))

    return _quad(integrand, [p, q])


@pytest.fixture(scope="session")
def blobs():
    """Two overlapping 3-D data sets to fit models on."""
    rng = np.random.default_rng(42)
    a = np.vstack([rng.normal(0, 1, (300, 3)), rng.normal(3, 0.5, (200, 3))])
    b = np.vstack([rng.normal(0.5, 1.2, (300, 3)), rng.normal(2.5, 0.7, (200, 3))])
    return a, b


ROOT = Path(__file__).resolve().parents[1]


def run_subprocess(command, cwd, extra_path=()):
    """Run a command with the checkout importable; output captured as text."""
    path = [*map(str, extra_path), str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
