"""Argument checks shared by the public functions. All run before any work."""

import numbers

import numpy as np
from sklearn.utils import check_array, check_random_state


def check_count(value, name, minimum):
    """An int >= ``minimum`` (bools and floats rejected), as a Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {type(value).__name__} "
            f"{value!r}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def check_n_samples(n_samples):
    return check_count(n_samples, "n_samples", 2)


def check_flag(value, name):
    """A bool (or numpy bool). Strings such as "False" would count as True."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(
            f"{name} must be True or False, got {type(value).__name__} {value!r}."
        )
    return bool(value)


def check_fraction(value, name):
    """A real number strictly between 0 and 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 < value < 1
    ):
        raise ValueError(
            f"{name} must be a number strictly between 0 and 1, got {value!r}."
        )
    return float(value)


def log_base(base):
    """Natural log of the unit's base: 1.0 for nats (base=None)."""
    if base is None:
        return 1.0
    # A base below 1 would make every divergence negative and the JS distance,
    # a square root, undefined.
    if (
        isinstance(base, bool)
        or not isinstance(base, numbers.Real)
        or not np.isfinite(base)
        or base <= 1
    ):
        raise ValueError(
            "base must be None (nats) or a finite number greater than 1 "
            f"(2 for bits), got {base!r}."
        )
    return float(np.log(base))


def unit_name(base):
    """'nats', 'bits' or 'log base b', for labels and reports."""
    if base is None:
        return "nats"
    return "bits" if base == 2 else f"log base {base:g}"


def check_method(method, valid):
    if not isinstance(method, str) or method not in valid:
        listed = ", ".join(repr(m) for m in valid)
        raise ValueError(f"method must be one of {listed}; got {method!r}.")
    return method


def seed_entropy(random_state):
    """Entropy for ``numpy.random.SeedSequence`` from any scikit-learn random_state.

    An int is used as it is, so the same int always gives the same streams. A
    ``RandomState`` (or None, meaning numpy's global one) or a ``Generator`` is
    advanced once to draw 128 bits, as scikit-learn estimators consume theirs.
    """
    if isinstance(random_state, np.random.Generator):
        return [int(v) for v in random_state.integers(0, 2**32, size=4)]
    if isinstance(random_state, bool):
        raise ValueError(f"random_state cannot be a bool, got {random_state!r}.")
    # Validates ints (0 <= seed < 2**32) and rejects anything else.
    try:
        generator = check_random_state(random_state)
    except ValueError as error:
        raise ValueError(
            "random_state must be None, an int in [0, 2**32), a RandomState or a "
            f"Generator, got {random_state!r}."
        ) from error
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return [int(v) for v in generator.randint(0, 2**32, size=4, dtype=np.uint64)]


def check_n_jobs(n_jobs):
    if n_jobs is not None and (
        isinstance(n_jobs, bool)
        or not isinstance(n_jobs, numbers.Integral)
        or n_jobs == 0
    ):
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}.")
    return n_jobs


def is_estimator(obj):
    """True for an estimator object, False for array-like data."""
    # Data frames have a ``sample`` method, so it cannot tell the two apart.
    return hasattr(obj, "fit") or hasattr(obj, "score_samples")


def check_data(X, name):
    """2-D float64 data with at least 2 rows and finite values."""
    try:
        return check_array(X, dtype=np.float64, ensure_min_samples=2, input_name=name)
    except ValueError as error:
        if name in str(error):
            raise
        raise ValueError(f"{name} is not valid data: {error}") from error
