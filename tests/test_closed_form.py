"""Closed-form KL between Gaussians: textbook values, P ~ Q accuracy, errors."""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
from conftest import make_mixture
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_divergence import gaussian_kl_divergence, js_divergence, kl_divergence


def textbook_kl(mean_0, cov_0, mean_1, cov_1):
    """The formula with explicit inverse and log-determinants (tests only)."""
    precision_1 = np.linalg.inv(cov_1)
    diff = np.asarray(mean_1) - mean_0
    return 0.5 * (
        np.trace(precision_1 @ cov_0)
        + diff @ precision_1 @ diff
        - len(mean_0)
        + np.linalg.slogdet(cov_1)[1]
        - np.linalg.slogdet(cov_0)[1]
    )


def test_1d_formula():
    m1, s1, m2, s2 = 0.3, 0.7, -1.1, 1.9
    expected = np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert gaussian_kl_divergence([m1], s1**2, [m2], s2**2) == pytest.approx(
        expected, rel=1e-14
    )
    bits = gaussian_kl_divergence([m1], s1**2, [m2], s2**2, base=2)
    assert bits == pytest.approx(expected / np.log(2), rel=1e-14)


def test_covariance_forms_agree_with_textbook():
    rng = np.random.default_rng(0)
    d = 5
    A, B = rng.normal(size=(2, d, d))
    full_0, full_1 = A @ A.T + np.eye(d), B @ B.T + np.eye(d)
    m0, m1 = rng.normal(size=(2, d))
    assert gaussian_kl_divergence(m0, full_0, m1, full_1) == pytest.approx(
        textbook_kl(m0, full_0, m1, full_1), rel=1e-11
    )
    v0, v1 = rng.uniform(0.5, 2, (2, d))
    assert gaussian_kl_divergence(m0, v0, m1, v1) == pytest.approx(
        textbook_kl(m0, np.diag(v0), m1, np.diag(v1)), rel=1e-12
    )
    assert gaussian_kl_divergence(m0, 0.7, m1, full_1) == pytest.approx(
        textbook_kl(m0, 0.7 * np.eye(d), m1, full_1), rel=1e-11
    )


def test_exactly_zero_for_equal_gaussians():
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    assert gaussian_kl_divergence([1, 2, 3], cov, [1, 2, 3], cov) == 0.0
    assert gaussian_kl_divergence([1.0], 2.0, [1.0], 2.0) == 0.0


@pytest.mark.parametrize("epsilon", [1e-4, 1e-7, 1e-10])
def test_full_precision_when_p_is_close_to_q(epsilon):
    """Sigma_q = c Sigma_p: KL = d/2 (1/c - 1 + ln c), summed in 40 digits."""
    getcontext().prec = 40
    d = 3
    c = Decimal(1) + Decimal(epsilon)
    exact = float(Decimal(d) / 2 * (1 / c - 1 + c.ln()))
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    value = gaussian_kl_divergence(np.zeros(d), cov, np.zeros(d), float(c) * cov)
    # float(c) itself is rounded: allow its effect, which is relative 2e-16 / eps.
    assert value == pytest.approx(exact, rel=1e-6 + 4e-16 / epsilon)


def test_small_mean_shift_is_exact():
    cov = np.diag([1.0, 4.0])
    shift = 1e-9
    value = gaussian_kl_divergence([0.0, 0.0], cov, [shift, 0.0], cov)
    assert value == pytest.approx(0.5 * shift**2, rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_kl_divergence_closed_method(covariance_type):
    rng = np.random.default_rng(1)
    d = 4
    means = rng.normal(size=(2, 1, d))
    if covariance_type in ("full", "tied"):
        A = rng.normal(size=(2, d, d))
        dense = A @ A.transpose(0, 2, 1) + np.eye(d)
        stored = dense[:, None] if covariance_type == "full" else dense
    elif covariance_type == "diag":
        stored = rng.uniform(0.5, 2, (2, 1, d))
        dense = np.stack([np.diag(v[0]) for v in stored])
    else:
        stored = rng.uniform(0.5, 2, (2, 1))
        dense = np.stack([v[0] * np.eye(d) for v in stored])
    p, q = (make_mixture([1.0], means[k], stored[k], covariance_type) for k in (0, 1))
    expected = textbook_kl(means[0, 0], dense[0], means[1, 0], dense[1])
    for method in ("closed", "auto"):
        value, se = kl_divergence(p, q, method=method, return_std=True)
        assert value == pytest.approx(expected, rel=1e-11)
        assert se == 0.0
    assert kl_divergence(p, p, method="closed") == 0.0


def test_closed_method_errors(blobs):
    one = make_mixture([1.0], [[0.0, 0.0]], np.eye(2)[None])
    two = make_mixture([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="no closed form for the Jensen-Shannon"):
        js_divergence(one, one, method="closed")
    with pytest.raises(ValueError, match="q has 2 components"):
        kl_divergence(one, two, method="closed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 0], [[1, 2], [2, 1]], [0, 0], np.eye(2)), "cov_p is not positive"),
        (([0, 0], np.eye(2), [0, 0], [[1, 0.5], [0, 1]]), "cov_q is not symmetric"),
        (([0, 0], np.eye(3), [0, 0], np.eye(2)), r"got shape \(3, 3\)"),
        (([0, 0], 1.0, [0, 0, 0], 1.0), "same length; got 2 and 3"),
        (([0, np.nan], 1.0, [0, 0], 1.0), "mean_p has non-finite"),
        (([0, 0], [1.0, -1.0], [0, 0], 1.0), "cov_p must be positive"),
        (([0, 0], 1.0, [0, 0], [1.0, np.inf]), "cov_q has non-finite"),
        ((0.0, 1.0, [0.0], 1.0), "mean_p must be a non-empty 1-D"),
        # Casting to float dropped the imaginary part and returned 0.0.
        (([0, 0], [[1, 0], [0, 1j]], [0, 0], np.eye(2)), "cov_p must hold real"),
        (([0, 0], np.eye(2), [0, 0], 1 + 0j), "cov_q must hold real"),
        (([0, 0], None, [0, 0], 1.0), "cov_p must hold real numbers, got NoneType"),
        (("ab", 1.0, [0, 0], 1.0), "mean_p must hold real numbers, got str"),
        (([0, 0], 1.0, [0, 1j], 1.0), "mean_q must hold real"),
    ],
)
def test_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        gaussian_kl_divergence(*args)


@st.composite
def gaussians(draw, d):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * draw(st.floats(0.1, 5.0))
    return rng.normal(0, 3, d), A @ A.T + 0.1 * np.eye(d)


pairs = st.integers(1, 6).flatmap(lambda d: st.tuples(gaussians(d), gaussians(d)))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(pairs)
def test_properties(pair):
    (m0, c0), (m1, c1) = pair
    value = gaussian_kl_divergence(m0, c0, m1, c1)
    assert value >= 0
    assert value == pytest.approx(textbook_kl(m0, c0, m1, c1), rel=1e-7, abs=1e-9)
    assert gaussian_kl_divergence(m0, c0, m0, c0) == 0.0


@pytest.mark.parametrize("exponent", [-10, -34, -40, -100, -300])
@pytest.mark.parametrize("tiny_side", ["p", "q"])
def test_extreme_variance_ratios(exponent, tiny_side):
    # With a variance ratio below eps^2 the diagonal of L_q^-1 L_p rounded to
    # 0 and the divergence came out inf (true value 38.6 nats at 1e-34).
    tiny = 10.0**exponent
    var_p, var_q = (tiny, 2.0) if tiny_side == "p" else (2.0, tiny)
    shift = 0.3
    # The 1-D formula, summed exactly: no cancellation at these ratios.
    expected = 0.5 * math.fsum(
        [var_p / var_q, shift**2 / var_q, -1.0, math.log(var_q), -math.log(var_p)]
    )
    value = gaussian_kl_divergence([0.0], var_p, [shift], var_q)
    assert value == pytest.approx(expected, rel=1e-12)
    # Three independent coordinates, one of them extreme: the terms add.
    value_3d = gaussian_kl_divergence(
        [0.0, 1.0, 2.0], [var_p, 1.0, 3.0], [shift, 1.0, 2.0], [var_q, 1.0, 3.0]
    )
    assert value_3d == pytest.approx(expected, rel=1e-12)
