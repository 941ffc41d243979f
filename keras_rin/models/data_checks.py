"""Checks of the data that users give a RIN diffusion model.

`fit` and `evaluate` check in-memory arrays in full (shape, dtype, range,
finiteness, label range) before they enter the compiled step, and a
`tf.data.Dataset` by its element spec; `call` unpacks its inputs;
`generate` checks its labels and the video model's context frames. Each
check raises a `ValueError` that names the argument, what was expected and
what was given. `model` is a `RINDiffusionModel`: its `data_key`,
`data_axes`, `num_classes` and `backbone.data_shape` say what is expected.
"""

import keras
import numpy as np

from keras_rin.utils import validation


def unpack_inputs(model, inputs):
    """`(data, labels)` from the inputs of `call`: the data, a dict
    `{data_key: ..., "labels": ...}` or a tuple `(data, labels)`."""
    key = model.data_key
    if isinstance(inputs, dict):
        unknown = set(inputs) - {key, "labels"}
        if unknown or key not in inputs:
            raise ValueError(
                f"`inputs` as a dict must have the key '{key}' and "
                f"optionally 'labels'. Received keys: {sorted(inputs)}"
            )
        data, labels = inputs[key], inputs.get("labels")
    elif isinstance(inputs, (tuple, list)):
        if len(inputs) != 2:
            raise ValueError(
                f"`inputs` as a tuple must be ({key}, labels). "
                f"Received a tuple of length {len(inputs)}"
            )
        data, labels = inputs
    else:
        data, labels = inputs, None
    check_data_shape(model, key, tuple(data.shape))
    if model.num_classes and labels is None:
        raise ValueError(
            "`labels` are required: this model is class-conditional "
            f"(num_classes={model.num_classes}). Pass fit({key}, labels) "
            f"or {{'{key}': ..., 'labels': ...}}."
        )
    if not model.num_classes and labels is not None:
        raise ValueError(
            "This model is unconditional (num_classes=None) but "
            "`labels` were given."
        )
    return data, labels


def labels_into_inputs(model, data):
    """Moves labels given to `fit` as `y` into the inputs, so that `call`
    sees them: `(x, y, sample_weight)` to `({data_key: x, "labels": y},
    None, sample_weight)`."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if y is not None:
        if isinstance(x, dict):
            raise ValueError(
                "Pass labels either inside `x` (as x['labels']) or as "
                "`y`, not both."
            )
        x = {model.data_key: x, "labels": y}
    return keras.utils.pack_x_y_sample_weight(x, None, sample_weight)


def check_data_shape(model, name, shape):
    expected = tuple(model.backbone.data_shape)
    if len(shape) != len(expected) + 1 or tuple(shape[1:]) != expected:
        raise ValueError(
            f"`{name}` must have shape (batch, {_dims(expected)}) "
            f"({', '.join(model.data_axes)}). Received shape {shape}"
        )


def check_training_data(model, x, y):
    """Checks the data given to `fit` or `evaluate`: arrays in full, a
    `tf.data.Dataset` by its element spec; other inputs pass as they are."""
    if isinstance(x, dict):
        x, y = x.get(model.data_key), x.get("labels", y)
    if _is_array(x):
        x = np.asarray(x)
        check_data_shape(model, "x", x.shape)
        validation.check_pixels("x", x)
        if y is not None and _is_array(y):
            validation.check_labels("y", y, model.num_classes, len(x))
        elif y is None and model.num_classes:
            raise ValueError(
                "`y` (labels) is required: this model is "
                f"class-conditional (num_classes={model.num_classes})."
            )
    elif hasattr(x, "element_spec"):
        _check_dataset_spec(model, x.element_spec)


def check_generate_labels(model, labels, num_examples):
    """Labels for `generate`: returns `(int32 labels or None,
    num_examples)`; a single label is repeated, and `num_examples` may be
    None when labels are a list."""
    if not model.num_classes:
        if labels is not None:
            raise ValueError(
                "This model is unconditional (num_classes=None): "
                f"`labels` must be None. Received: labels={labels!r}"
            )
        return None, num_examples
    if labels is None:
        raise ValueError(
            "`labels` are required: this model is class-conditional "
            f"(num_classes={model.num_classes})."
        )
    labels = np.asarray(labels)
    if labels.ndim == 0:
        labels = np.full((num_examples or 1,), labels)
    if labels.ndim != 1:
        raise ValueError(
            "`labels` must be an int or a 1-D sequence of ints. "
            f"Received shape {labels.shape}"
        )
    if num_examples is None:
        num_examples = len(labels)
    if len(labels) != num_examples:
        raise ValueError(
            f"`labels` has {len(labels)} entries but {num_examples} "
            f"{model.data_key} are generated; they must match."
        )
    validation.check_labels("labels", labels, model.num_classes, num_examples)
    return labels.astype("int32"), num_examples


def check_context_frames(model, context_frames):
    """The context frames of `RINVideoPredictor.generate` as float32 NumPy
    `(num_clips, num_context_frames, height, width, channels)` in [0, 1]:
    uint8 divided by 255, float values unchanged; one clip may come
    without the batch axis."""
    context = np.asarray(context_frames)
    frames, height, width, channels = model.backbone.video_shape
    expected = (model.num_context_frames, height, width, channels)
    if context.ndim == len(expected):
        context = context[None]
    if context.ndim != len(expected) + 1 or context.shape[1:] != expected:
        raise ValueError(
            "`context_frames` must have shape (num_clips, "
            f"{_dims(expected)}): the first {model.num_context_frames} "
            f"frames of {frames}-frame clips (frames, height, width, "
            f"channels). Received shape {np.shape(context_frames)}"
        )
    if len(context) == 0:
        raise ValueError("`context_frames` holds no clips (shape[0] = 0).")
    validation.check_pixels("context_frames", context)
    return validation.pixels_to_float32(context)


def _check_dataset_spec(model, spec):
    if isinstance(spec, tuple):
        spec = spec[0]
    if isinstance(spec, dict):
        spec = spec.get(model.data_key)
    shape = getattr(spec, "shape", None)
    expected = tuple(model.backbone.data_shape)
    if shape is None or len(shape) != len(expected) + 1:
        return
    got = tuple(shape[1:])
    if any(
        g is not None and g != e for g, e in zip(got, expected, strict=True)
    ):
        raise ValueError(
            f"Dataset {model.data_key} must have shape (batch, "
            f"{_dims(expected)}) ({', '.join(model.data_axes)}). "
            f"Received element shape {tuple(shape)}"
        )


def _is_array(value):
    return (
        value is not None
        and hasattr(value, "shape")
        and hasattr(value, "dtype")
        and not hasattr(value, "element_spec")
    )


def _dims(shape):
    return ", ".join(map(str, shape))
