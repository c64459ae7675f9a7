"""Property-based tests: invariants that hold for every pair of mixtures."""

import numpy as np
from conftest import make_mixture
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_divergence import js_distance, js_divergence, kl_divergence

LOG2 = np.log(2)


@st.composite
def mixtures(draw, d):
    """Random full-covariance mixtures in d dimensions with 1 to 4 components."""
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(k)) + 1e-3
    means = rng.normal(0, draw(st.floats(0.1, 10.0)), (k, d))
    A = rng.normal(size=(k, d, d)) * draw(st.floats(0.1, 3.0))
    covariances = A @ A.transpose(0, 2, 1) + 0.05 * np.eye(d)
    return make_mixture(weights, means, covariances)


pairs = st.integers(1, 3).flatmap(lambda d: st.tuples(mixtures(d), mixtures(d)))
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@SETTINGS
@given(pairs, st.sampled_from(["mc", "stratified", "rqmc"]))
def test_kl_nonnegative_and_zero_on_itself(pair, method):
    p, q = pair
    value, se = kl_divergence(
        p, q, method=method, n_samples=4096, random_state=0, return_std=True
    )
    assert np.isfinite(value) and value >= 0 and se >= 0
    assert kl_divergence(p, p, method=method, n_samples=4096, random_state=0) == 0


@SETTINGS
@given(pairs, st.sampled_from(["mc", "stratified", "rqmc"]))
def test_js_bounded_symmetric_and_distance_consistent(pair, method):
    p, q = pair
    options = {"method": method, "n_samples": 4096, "return_std": True}
    forward, se_f = js_divergence(p, q, random_state=0, **options)
    backward, se_b = js_divergence(q, p, random_state=1, **options)
    assert 0 <= forward <= LOG2 and 0 <= backward <= LOG2
    assert abs(forward - backward) <= 5 * np.hypot(se_f, se_b) + 1e-12
    distance = js_distance(p, q, random_state=0, base=2, method=method, n_samples=4096)
    assert 0 <= distance <= 1
    assert np.isclose(distance, np.sqrt(forward / LOG2), rtol=1e-12, atol=0)


@SETTINGS
@given(pairs)
def test_methods_agree_within_their_errors(pair):
    p, q = pair
    mc, se_mc = kl_divergence(
        p, q, method="mc", n_samples=20_000, random_state=0, return_std=True
    )
    rqmc, se_rqmc = kl_divergence(
        p, q, method="rqmc", n_samples=20_000, random_state=0, return_std=True
    )
    assert abs(mc - rqmc) <= 5 * np.hypot(se_mc, se_rqmc) + 1e-9 * max(1, mc)


@SETTINGS
@given(pairs, st.floats(1.1, 100.0))
def test_base_only_rescales(pair, base):
    p, q = pair
    nats = kl_divergence(p, q, n_samples=1024, random_state=0)
    other = kl_divergence(p, q, n_samples=1024, random_state=0, base=base)
    assert np.isclose(other, nats / np.log(base), rtol=1e-12)
