"""sklearn_divergence.discrete against scipy and the classic worked example."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from sklearn_divergence.discrete import js_distance, js_divergence, kl_divergence

P = [0.10, 0.40, 0.50]
Q = [0.80, 0.15, 0.05]
LOG2 = np.log(2)


def test_worked_example():
    # Hand computation: sum p log(p / q), in nats then in bits.
    kl_pq = 0.1 * np.log(0.1 / 0.8) + 0.4 * np.log(0.4 / 0.15) + 0.5 * np.log(10)
    assert kl_divergence(P, Q) == pytest.approx(kl_pq, rel=1e-14)
    assert kl_divergence(P, Q) == pytest.approx(1.336, abs=5e-4)
    assert kl_divergence(P, Q, base=2) == pytest.approx(1.927, abs=5e-4)
    assert kl_divergence(Q, P) == pytest.approx(1.401, abs=5e-4)
    assert kl_divergence(Q, P, base=2) == pytest.approx(2.022, abs=5e-4)
    assert js_divergence(P, Q, base=2) == pytest.approx(0.420, abs=5e-4)
    assert js_distance(P, Q, base=2) == pytest.approx(0.648, abs=5e-4)


def test_zeros():
    assert kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(np.log(2))
    assert kl_divergence([0.5, 0.5], [0.0, 1.0]) == np.inf
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(LOG2)
    assert js_distance([1.0, 0.0], [0.0, 1.0], base=2) == 1.0
    assert kl_divergence(P, P) == 0.0
    assert js_distance(P, P) == 0.0


def test_arrays_along_axis():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=(4, 3))
    q = rng.dirichlet(np.ones(5), size=(4, 3))
    np.testing.assert_allclose(kl_divergence(p, q), rel_entr(p, q).sum(axis=-1))
    np.testing.assert_allclose(
        js_distance(p.transpose(2, 0, 1), q.transpose(2, 0, 1), axis=0),
        jensenshannon(p, q, axis=-1),
    )
    assert js_divergence(p, q).shape == (4, 3)


distributions = st.integers(2, 12).flatmap(
    lambda n: st.tuples(
        *(
            st.lists(st.floats(0, 1), min_size=n, max_size=n).filter(
                lambda v: sum(v) > 1e-3
            )
            for _ in range(2)
        )
    )
)


# scipy's jensenshannon takes the square root of a rounding-negative value for
# some pairs, warns and returns NaN; ours must stay finite there.
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")
@settings(max_examples=200, deadline=None, derandomize=True)
@given(distributions, st.sampled_from([None, 2, 10, 1.5]))
def test_agrees_with_scipy_and_bounds(pair, base):
    p, q = (np.array(v) / np.sum(v) for v in pair)  # sums to 1 within 1e-8
    unit = 1.0 if base is None else np.log(base)
    expected_kl = rel_entr(p, q).sum() / unit
    assert kl_divergence(p, q, base=base) == pytest.approx(expected_kl, rel=1e-12)
    js = js_divergence(p, q, base=base)
    assert 0 <= js * unit <= LOG2
    assert js == pytest.approx(js_divergence(q, p, base=base), rel=1e-12, abs=1e-15)
    distance = js_distance(p, q, base=base)
    assert np.isfinite(distance)
    scipy_distance = jensenshannon(p, q, base=base)
    if np.isfinite(scipy_distance):  # scipy returns NaN for rounding below 0
        assert distance == pytest.approx(scipy_distance, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0.5, 0.6], [0.5, 0.5], "p must sum to 1"),
        ([0.5, 0.5], [0.2, 0.2], "q must sum to 1"),
        ([1.5, -0.5], [0.5, 0.5], "p has negative entries"),
        ([0.5, np.nan], [0.5, 0.5], "p contains NaN"),
        ([0.5, 0.5], [np.inf, 0.5], "q contains inf"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], r"same shape; p has \(2,\) and q has \(3,\)"),
        (0.5, [0.5, 0.5], "p must be an array"),
        ([2, 3], [0.5, 0.5], r"found a sum of 5\.0\. It is not renormalised"),
    ],
)
@pytest.mark.parametrize("function", [kl_divergence, js_divergence, js_distance])
def test_bad_input(function, p, q, message):
    with pytest.raises(ValueError, match=message):
        function(p, q)


def test_bad_base():
    with pytest.raises(ValueError, match="base must be"):
        kl_divergence(P, Q, base=1)
