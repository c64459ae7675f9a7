"""Argument checks shared by the public functions. All run before any work."""

import numbers

import numpy as np
from scipy.sparse import issparse
from sklearn.utils import check_array, check_random_state


def check_count(value, name, minimum, maximum=None):
    """An int in [minimum, maximum] (bools and floats rejected), as a Python int."""
    bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer {bounds}, got {type(value).__name__} {value!r}."
        )
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {bounds}, got {value}.")
    return int(value)


def check_max_dimensions(value, name):
    """'auto', None, or an int >= 1."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"{name} must be 'auto', None or an integer >= 1, got {value!r}."
        )
    return int(value)


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


def real_array(value, name):
    """float64 array of ``value``, which must be a dense, rectangular array of
    real numbers: casting would drop an imaginary part silently, or fail with
    numpy's words, which name no argument."""
    if issparse(value):
        raise TypeError(
            f"{name} must be a dense array, got a sparse {type(value).__name__}."
        )
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ValueError(
            f"{name} must be a rectangular array; its rows have different lengths."
        ) from error
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold real numbers, got {type(value).__name__} of dtype "
            f"{array.dtype}."
        )
    return array.astype(np.float64)


def check_axis(axis):
    """An int (not a bool, a float or a string such as "0")."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ValueError(
            f"axis must be an integer, got {type(axis).__name__} {axis!r}."
        )
    return int(axis)


def feature_names(obj):
    """A fitted estimator's ``feature_names_in_``, or a data frame's columns when
    they are all strings (as scikit-learn records them); None otherwise."""
    names = getattr(obj, "feature_names_in_", None)
    if names is None and not is_estimator(obj) and hasattr(obj, "columns"):
        columns = list(obj.columns)
        if columns and all(isinstance(column, str) for column in columns):
            names = columns
    return None if names is None else np.asarray(names, dtype=object)


def check_same_feature_names(first, second, names):
    """Raise if both inputs name their features and the names differ.

    Same features in another order would pair unrelated columns silently.
    Returns the names, or None if neither input has them.
    """
    return check_names_match(feature_names(first), feature_names(second), names)


def check_names_match(first, second, names):
    """``check_same_feature_names`` for names already known (or None)."""
    if first is None or second is None:
        return first if second is None else second
    if not np.array_equal(first, second):
        same_set = sorted(first) == sorted(second)
        what = "the same features in another order" if same_set else "other features"
        raise ValueError(
            f"{names[0]} and {names[1]} were fitted on {what}: {names[0]} has "
            f"{list(first)} and {names[1]} has {list(second)}. Select the "
            "columns in one order (X[columns]) and refit."
        )
    return first


def check_data(X, name, accepted="array-like of shape (n_samples, n_features)"):
    """2-D float64 data with at least 2 rows and finite values.

    ``accepted`` describes what ``name`` may be, for the message when it is not
    data at all (None, a string, a number).
    """
    if X is None or isinstance(X, str | bytes) or np.isscalar(X):
        raise TypeError(f"{name} must be {accepted}, got {type(X).__name__} {X!r}.")
    if issparse(X):
        raise TypeError(
            f"{name} must be a dense array, got a sparse {type(X).__name__}."
        )
    shape = _shape(X, name)
    if len(shape) != 2:
        hint = " (X.reshape(-1, 1) for a single feature)" if len(shape) == 1 else ""
        raise ValueError(
            f"{name} must be 2-D, of shape (n_samples, n_features), got an array "
            f"of shape {shape}{hint}."
        )
    try:
        return check_array(X, dtype=np.float64, ensure_min_samples=2, input_name=name)
    except ValueError as error:
        if "convert" in str(error):
            raise ValueError(
                f"{name} must hold numbers; it has values that are not: {error}"
            ) from error
        if name in str(error):
            raise
        raise ValueError(f"{name} is not valid data: {error}") from error
    except TypeError as error:
        raise TypeError(f"{name} must hold real numbers: {error}") from error


def _shape(X, name):
    """The shape of array-like data; ragged nested lists are an error."""
    shape = getattr(X, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.shape(X)
    except ValueError as error:
        raise ValueError(
            f"{name} must be a rectangular array; its rows have different lengths."
        ) from error
