"""Argument checks shared by the whole package.

Every check raises a `ValueError` in Keras' form: it names the argument,
says what was expected and shows what was given. Integer checks accept
Python and NumPy integers (never booleans) and return a Python `int`, so
that checked values serialise to JSON in a config; number checks likewise
return a Python `float`. Counts (sizes, steps, examples) must fit an int32:
compiled loops and shapes count in int32, where a larger value would wrap
around or overflow.
"""

import math
import numbers

import numpy as np

# Float pixels may overshoot [0, 1] by this much (resampling, rounding).
PIXEL_TOLERANCE = 1e-3

# The largest count that compiled loops and shapes hold (int32), and the
# largest seed that every backend's `keras.random.SeedGenerator` takes.
INT32_MAX = 2**31 - 1
# The largest float that the compiled loops (float32) hold.
FLOAT32_MAX = float(np.finfo("float32").max)
# The smallest positive normal float32.
FLOAT32_TINY = float(np.finfo("float32").tiny)


def is_int(value):
    """Whether `value` is a Python or NumPy integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, (bool, np.bool_)
    )


def check_int(name, value, minimum=None, maximum=None):
    """Returns `value` as an `int` after checking it is an integer in
    `[minimum, maximum]` (either bound may be None)."""
    in_range = is_int(value) and (
        (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
    )
    if not in_range:
        raise ValueError(
            f"`{name}` must be {_int_description(minimum, maximum)}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def check_positive_int(name, value):
    return check_int(name, value, minimum=1)


def check_count(name, value):
    """Returns a count (a size, a number of steps or examples) as an `int`
    in `[1, 2**31 - 1]`: compiled loops and shapes count in int32."""
    return check_int(name, value, minimum=1, maximum=INT32_MAX)


def check_bool(name, value):
    """Returns `value` as a `bool` after checking it is a Python or NumPy
    bool (not a string, a number or None: `"False"` is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"`{name}` must be a bool (True or False). "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    return bool(value)


def check_non_negative_int(name, value):
    return check_int(name, value, minimum=0)


def check_seed(seed, name="seed", allow_none=True, maximum=None):
    """Returns a seed as an `int` >= 0 (and <= `maximum` if given; a seed
    of a `keras.random.SeedGenerator` must be <= `INT32_MAX` to work on
    every backend), or None where allowed."""
    if seed is None and allow_none:
        return None
    if not is_int(seed) or seed < 0 or (maximum is not None and seed > maximum):
        alternative = " or None" if allow_none else ""
        bound = "" if maximum is None else f" and <= {_bound(maximum)}"
        raise ValueError(
            f"`{name}` must be an int >= 0{bound}{alternative}. "
            f"Received: {name}={seed!r}"
        )
    return int(seed)


def check_number(name, value):
    """Returns a finite real number (Python's or NumPy's) as a `float`."""
    if not is_finite_number(value):
        raise ValueError(
            f"`{name}` must be a finite number. Received: {name}={value!r}"
        )
    return float(value)


def check_rate(name, value, allow_one=False):
    """Returns a probability as a `float` in `[0, 1)` (`[0, 1]` with
    `allow_one`)."""
    upper_ok = is_finite_number(value) and (
        value <= 1 if allow_one else value < 1
    )
    if not upper_ok or value < 0:
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(
            f"`{name}` must be a number in {interval}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def check_positive_number(name, value):
    """Returns a number > 0 as a `float`. It must also stay a positive,
    finite number in float32, where the models compute (1e300 would become
    inf there, 1e-300 zero)."""
    if (
        not is_finite_number(value)
        or value <= 0
        or not FLOAT32_TINY <= value <= FLOAT32_MAX
    ):
        raise ValueError(
            f"`{name}` must be a finite number > 0 that float32 holds (in "
            f"[{FLOAT32_TINY:.3g}, {FLOAT32_MAX:.3g}]). "
            f"Received: {name}={value!r}"
        )
    return float(value)


def check_probabilities(name, values, length):
    """Returns `length` probabilities (finite numbers >= 0 adding up to 1)
    as a list of floats."""
    valid = (
        not isinstance(values, (str, bytes, dict))
        and hasattr(values, "__len__")
        and len(values) == length
        and all(is_finite_number(p) and p >= 0 for p in values)
        and math.isclose(sum(values), 1.0, abs_tol=1e-6)
    )
    if not valid:
        raise ValueError(
            f"`{name}` must hold {length} numbers >= 0 adding up to 1. "
            f"Received: {name}={preview(values)}"
        )
    return [float(p) for p in values]


def check_keyword_arguments(owner, kwargs, allowed):
    """Refuses keyword arguments outside `allowed` (a misspelt optional
    argument would otherwise be dropped in silence), as Keras does."""
    unknown = {key: kwargs[key] for key in kwargs if key not in allowed}
    if unknown:
        raise ValueError(
            f"Unrecognized keyword arguments passed to {owner}: {unknown}. "
            f"Accepted besides the documented ones: {sorted(allowed)}"
        )


def check_divisible(name, value, divisor_name, divisor):
    if value % divisor:
        raise ValueError(
            f"`{name}` must be divisible by `{divisor_name}`={divisor}. "
            f"Received: {name}={value}"
        )


def check_pixels(name, data, rank=None, layout=None):
    """Checks pixel data and returns it as a NumPy array, unconverted.

    Accepts uint8 values (in [0, 255]) or finite float values in [0, 1]
    (up to `PIXEL_TOLERANCE` outside it). With `rank`, the array must have
    that rank (`layout` describes its axes) and hold at least one example.
    """
    data = np.asarray(data)
    if rank is not None and data.ndim != rank:
        raise ValueError(
            f"`{name}` must be a {rank}-D array {layout or ''}. Received "
            f"shape {data.shape}"
        )
    if rank is not None and data.shape[0] < 1:
        raise ValueError(
            f"`{name}` must hold at least one example. Received shape "
            f"{data.shape}"
        )
    if data.dtype == np.uint8:
        return data
    if not np.issubdtype(data.dtype, np.floating):
        raise ValueError(
            f"`{name}` must be float pixel values in [0, 1] or uint8 in "
            f"[0, 255]. Received dtype {data.dtype}"
        )
    finite = np.isfinite(data)
    if not np.all(finite):
        raise ValueError(
            f"`{name}` contains {int(data.size - np.count_nonzero(finite))} "
            "non-finite pixel values (NaN or inf); expected finite values "
            "in [0, 1]."
        )
    if data.size:
        low, high = float(data.min()), float(data.max())
        if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
            raise ValueError(
                f"`{name}` must hold float pixel values in [0, 1] (or uint8 "
                f"in [0, 255]). Received values in [{low:.4g}, {high:.4g}]"
            )
    return data


def pixels_to_float32(pixels):
    """Checked pixels (see `check_pixels`) as float32: uint8 divided by
    255, float values cast and otherwise unchanged."""
    if pixels.dtype == np.uint8:
        return pixels.astype("float32") / np.float32(255)
    return pixels.astype("float32", copy=False)


def as_array(name, value):
    """`value` as a NumPy array; a ragged sequence or anything else NumPy
    cannot take raises a `ValueError` that names the argument."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"`{name}` must be an array or a (nested) sequence of numbers. "
            f"Received: {name}={preview(value)} ({error})"
        ) from error


def check_label_dtype(name, labels):
    """Checks that a NumPy array of labels has an integer dtype: floats
    (integral ones too), bools, strings and objects are not class ids."""
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"`{name}` must hold integer class ids (an integer dtype; "
            "floats, bools and strings are refused). Received dtype "
            f"{labels.dtype}: {name}={preview(labels)}"
        )


def check_labels(name, labels, num_classes, expected_length):
    """Checks a 1-D array of integer class ids in `[0, num_classes)`.

    Only integer dtypes are class ids: float labels are refused even when
    their values are whole (`[1.0, 2.0]`), and so are bools.
    """
    labels = as_array(name, labels)
    if labels.ndim != 1 or len(labels) != expected_length:
        raise ValueError(
            f"`{name}` must be a 1-D array of {expected_length} class ids. "
            f"Received shape {labels.shape}"
        )
    check_label_dtype(name, labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`{name}` must be in [0, {num_classes}) (num_classes="
            f"{num_classes}). Received values in [{labels.min()}, "
            f"{labels.max()}]"
        )
    return labels


def is_finite_number(value):
    """Whether `value` is a finite Python or NumPy real (not a bool)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )


def preview(value, limit=80):
    """`repr(value)`, cut to about `limit` characters for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bound(value):
    return "2**31 - 1" if value == INT32_MAX else str(value)


def _int_description(minimum, maximum):
    if minimum == 1 and maximum is None:
        return "a positive integer"
    if minimum == 1 and maximum == INT32_MAX:
        return "a positive integer in [1, 2**31 - 1] (an int32 count)"
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {_bound(maximum)}]"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {_bound(maximum)}"
    return "an integer"
