"""Argument checks shared by the whole package.

Every check raises a `ValueError` in Keras' form: it names the argument,
says what was expected and shows what was given. Integer checks accept
Python and NumPy integers (never booleans) and return a Python `int`, so
that checked values serialise to JSON in a config; number checks likewise
return a Python `float`.
"""

import math
import numbers

import numpy as np

# Float pixels may overshoot [0, 1] by this much (resampling, rounding).
PIXEL_TOLERANCE = 1e-3


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


def check_non_negative_int(name, value):
    return check_int(name, value, minimum=0)


def check_seed(seed, name="seed", allow_none=True):
    """Returns a seed as an `int` >= 0, or None where allowed."""
    if seed is None and allow_none:
        return None
    if not is_int(seed) or seed < 0:
        alternative = " or None" if allow_none else ""
        raise ValueError(
            f"`{name}` must be an int >= 0{alternative}. "
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
    if not is_finite_number(value) or value <= 0:
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value!r}"
        )
    return float(value)


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


def check_labels(name, labels, num_classes, expected_length):
    """Checks a 1-D array of class ids in `[0, num_classes)`."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != expected_length:
        raise ValueError(
            f"`{name}` must be a 1-D array of {expected_length} class ids. "
            f"Received shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) and (
        not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))
    ):
        raise ValueError(
            f"`{name}` must hold integer class ids. Received dtype "
            f"{labels.dtype} with non-integer values"
        )
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


def _int_description(minimum, maximum):
    if minimum == 1 and maximum is None:
        return "a positive integer"
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"
