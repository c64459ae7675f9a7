"""KL and Jensen-Shannon divergences between discrete probability distributions.

Unlike :func:`scipy.stats.entropy` and
:func:`scipy.spatial.distance.jensenshannon`, these functions never
renormalise: a vector that does not sum to 1 is an error, not a distribution.
"""

import numpy as np
from scipy.special import rel_entr

from ._validation import check_axis, log_base, real_array

__all__ = ["js_distance", "js_divergence", "kl_divergence"]

# Tolerance on sum(p) = 1: loose enough for rounded inputs, tight enough to
# catch counts or unnormalised scores passed by mistake.
_SUM_TOLERANCE = 1e-8


def _check_distributions(p, q, axis):
    """Validated float64 arrays; raises ValueError naming the argument."""
    axis = check_axis(axis)
    arrays = []
    for name, values in (("p", p), ("q", q)):
        array = real_array(values, name)
        if array.ndim == 0:
            raise ValueError(f"{name} must be an array of probabilities, got a scalar.")
        if np.isnan(array).any():
            raise ValueError(f"{name} contains NaN.")
        if (array < 0).any():
            raise ValueError(f"{name} has negative entries.")
        if np.isinf(array).any():
            raise ValueError(f"{name} contains inf.")
        arrays.append(array)
    p, q = arrays
    if p.shape != q.shape:
        raise ValueError(
            f"p and q must have the same shape; p has {p.shape} and q has {q.shape}."
        )
    if not -p.ndim <= axis < p.ndim:
        raise ValueError(
            f"axis must be in [{-p.ndim}, {p.ndim}) for arrays of shape {p.shape}, "
            f"got {axis}."
        )
    for name, array in (("p", p), ("q", q)):
        sums = array.sum(axis=axis)
        if not np.all(np.abs(sums - 1.0) <= _SUM_TOLERANCE):
            worst = np.ravel(sums)[np.argmax(np.abs(np.ravel(sums) - 1.0))]
            raise ValueError(
                f"{name} must sum to 1 along axis {axis} (within {_SUM_TOLERANCE:g}); "
                f"found a sum of {float(worst)!r}. It is not renormalised for you."
            )
    return p, q


def _scalar_if_0d(value):
    return float(value) if np.ndim(value) == 0 else value


def kl_divergence(p, q, *, base=None, axis=-1):
    """Kullback-Leibler divergence KL(P || Q) = sum_i p_i log(p_i / q_i).

    Parameters
    ----------
    p, q : array_like
        Probability vectors, or arrays of them along ``axis``. Entries must be
        non-negative and sum to 1 within 1e-8; nothing is renormalised.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    axis : int, default=-1
        The axis that holds each distribution.

    Returns
    -------
    kl : float or ndarray
        A float for vectors, else an array with ``axis`` removed. Terms with
        p_i = 0 contribute 0; a term with p_i > 0 and q_i = 0 makes the result
        ``inf``.

    Raises
    ------
    ValueError
        If either input has NaN, inf or negative entries, does not sum to 1,
        or the shapes differ.

    See Also
    --------
    scipy.special.rel_entr : The per-term values p_i log(p_i / q_i).

    Examples
    --------
    >>> from sklearn_divergence.discrete import kl_divergence
    >>> p, q = [0.10, 0.40, 0.50], [0.80, 0.15, 0.05]
    >>> print(f"{kl_divergence(p, q, base=2):.3f} bits, {kl_divergence(p, q):.3f} nats")
    1.927 bits, 1.336 nats
    >>> print(f"{kl_divergence(q, p, base=2):.3f} bits, {kl_divergence(q, p):.3f} nats")
    2.022 bits, 1.401 nats
    >>> kl_divergence([0.5, 0.5], [1.0, 0.0])
    inf
    """
    unit = log_base(base)
    p, q = _check_distributions(p, q, axis)
    return _scalar_if_0d(rel_entr(p, q).sum(axis=axis) / unit)


def js_divergence(p, q, *, base=None, axis=-1):
    """Jensen-Shannon divergence KL(P || M) / 2 + KL(Q || M) / 2, M = (P + Q) / 2.

    Symmetric, always finite, and in [0, log 2] nats, which is [0, 1] bit.

    Parameters
    ----------
    p, q : array_like
        Probability vectors, or arrays of them along ``axis``. Entries must be
        non-negative and sum to 1 within 1e-8; nothing is renormalised.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    axis : int, default=-1
        The axis that holds each distribution.

    Returns
    -------
    js : float or ndarray
        A float for vectors, else an array with ``axis`` removed.

    Raises
    ------
    ValueError
        If either input has NaN, inf or negative entries, does not sum to 1,
        or the shapes differ.

    See Also
    --------
    js_distance : Its square root, a metric.

    Examples
    --------
    >>> from sklearn_divergence.discrete import js_divergence
    >>> print(f"{js_divergence([0.10, 0.40, 0.50], [0.80, 0.15, 0.05], base=2):.3f}")
    0.420
    >>> js_divergence([1.0, 0.0], [0.0, 1.0], base=2)
    1.0
    """
    unit = log_base(base)
    p, q = _check_distributions(p, q, axis)
    m = 0.5 * (p + q)
    value = 0.5 * (rel_entr(p, m).sum(axis=axis) + rel_entr(q, m).sum(axis=axis))
    # Rounding can push the sum a hair outside its exact range.
    return _scalar_if_0d(np.clip(value, 0.0, np.log(2.0)) / unit)


def js_distance(p, q, *, base=None, axis=-1):
    """Jensen-Shannon distance: the square root of :func:`js_divergence`.

    A metric on probability vectors, in [0, 1] for ``base=2``. The same as
    :func:`scipy.spatial.distance.jensenshannon` on normalised input, but it
    never renormalises and never takes the square root of a rounding error
    below 0 (which gives NaN in SciPy).

    Parameters
    ----------
    p, q : array_like
        Probability vectors, or arrays of them along ``axis``. Entries must be
        non-negative and sum to 1 within 1e-8; nothing is renormalised.
    base : float, default=None
        Logarithm base of the divergence: None for nats, 2 for bits.
    axis : int, default=-1
        The axis that holds each distribution.

    Returns
    -------
    distance : float or ndarray
        A float for vectors, else an array with ``axis`` removed.

    Raises
    ------
    ValueError
        If either input has NaN, inf or negative entries, does not sum to 1,
        or the shapes differ.

    Examples
    --------
    >>> from sklearn_divergence.discrete import js_distance
    >>> print(f"{js_distance([0.10, 0.40, 0.50], [0.80, 0.15, 0.05], base=2):.3f}")
    0.648
    """
    return _scalar_if_0d(np.sqrt(js_divergence(p, q, base=base, axis=axis)))
