"""Checks of the data that users give a RIN diffusion model.

`fit` and `evaluate` check in-memory arrays in full (shape, dtype, range,
finiteness, label range) before they enter the compiled step, and a stream
(`tf.data.Dataset`, `PyDataset`, torch `DataLoader`, generator) by its
first batch; `call` unpacks its inputs;
`generate` checks its labels, the video model's context frames and the
data and mask of image editing. Each
check raises a `ValueError` that names the argument, what was expected and
what was given. `model` is a `RINDiffusionModel`: its `data_key`,
`data_axes`, `num_classes` and `backbone.data_shape` say what is expected.
"""

import types

import keras
import numpy as np

from keras_rin.diffusion import sampling
from keras_rin.utils import validation


def unpack_inputs(model, inputs):
    """`(data, labels)` from the inputs of `call`: the data, a dict
    `{data_key: ..., "labels": ...}` or a tuple `(data, labels)`."""
    key = model.data_key
    if isinstance(inputs, dict):
        _check_keys(model, "inputs", inputs)
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
        _check_labels_given_once(x, y)
        if isinstance(x, dict):
            x = {**x, "labels": y}
        else:
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
    """Checks the data given to `fit` or `evaluate` before Keras builds its
    step, and returns `(x, y)` to use instead: labels given as a Python
    list become a NumPy array, and a generator comes back with its first
    batch put back in front.

    Arrays are checked in full; a stream (`tf.data.Dataset`, `PyDataset`,
    torch `DataLoader`, generator) by its first batch, as later batches
    only exist once the step runs; other inputs pass as they are.
    """
    kind, first_batch, x = _peek_first_batch(x)
    if kind is not None:
        if first_batch is not None:
            _check_first_batch(model, kind, first_batch)
        return x, y
    if isinstance(x, dict):
        _check_keys(model, "x", x)
        _check_labels_given_once(x, y)
        if isinstance(x.get("labels"), (list, tuple)):
            x = {**x, "labels": np.asarray(x["labels"])}
        name = "x['labels']" if "labels" in x else "y"
        _check_arrays(model, x[model.data_key], x.get("labels", y), name)
        return x, y
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    _check_arrays(model, x, y)
    return x, y


def check_generate_labels(model, labels, num_examples):
    """Labels for `generate`: returns `(int32 labels or None,
    num_examples)`; a single label is repeated, and `num_examples` may be
    None when labels are a list. Labels are integer class ids: floats
    (even whole ones), bools and strings are refused."""
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
    labels = validation.as_array("labels", labels)
    if labels.ndim > 1 or (labels.ndim == 1 and not len(labels)):
        raise ValueError(
            "`labels` must be an int or a non-empty 1-D sequence of ints. "
            f"Received shape {labels.shape}: labels="
            f"{validation.preview(labels)}"
        )
    validation.check_label_dtype("labels", labels)
    if labels.ndim == 0:
        labels = np.full((num_examples or 1,), labels)
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


def check_edit(model, name, init, mask, num_examples=None):
    """The initial data and mask of image editing as a `sampling.Edit`
    (None when neither is given).

    Args:
        model: the model; its `target_shape` is the shape of one example.
        name: the argument that holds the initial data (`"init_images"`,
            `"init_frames"`).
        init: pixels `(num_examples,) + target_shape` (or one example
            without the batch axis), float in [0, 1] or uint8.
        mask: None, or bool (or 0/1 numbers) shaped like the examples, with
            or without the batch and channel axes: True (1) where the model
            generates, False (0) where `init` is kept.
        num_examples: int or None, the number of examples (from the
            labels), which `init` must match.
    """
    if init is None:
        if mask is not None:
            raise ValueError(
                f"`mask` needs `{name}`: the data whose pixels outside the "
                "mask are kept. Received: mask of shape "
                f"{np.shape(mask)} and {name}=None"
            )
        return None
    target = tuple(model.target_shape)
    data = validation.as_array(name, init)
    if data.shape == target:
        data = data[None]
    if data.ndim != len(target) + 1 or data.shape[1:] != target:
        raise ValueError(
            f"`{name}` must have shape (num_examples, {_dims(target)}) or "
            f"({_dims(target)}). Received shape {data.shape}"
        )
    if len(data) == 0 or (num_examples and len(data) != num_examples):
        raise ValueError(
            f"`{name}` holds {len(data)} examples but {num_examples} are "
            "generated (one per label); they must match."
        )
    validation.check_pixels(name, data)
    data = validation.pixels_to_float32(data)
    keep = None if mask is None else ~_check_mask(mask, data.shape)
    return sampling.Edit(data=data, keep=keep)


def check_edit_options(options, edit, name):
    """`strength` and `resample_jumps` need the data to edit (`name`)."""
    if edit is None and options.strength != 1:
        raise ValueError(
            f"`strength` needs `{name}`, the data to edit. Received: "
            f"strength={options.strength}, {name}=None"
        )
    if options.resample_jumps and (edit is None or edit.keep is None):
        raise ValueError(
            "`resample_jumps` is a setting of inpainting: it needs "
            f"`{name}` and `mask`. Received: resample_jumps="
            f"{options.resample_jumps}, mask=None"
        )


def _check_mask(mask, shape):
    """`mask` as bool NumPy of `shape`, `(batch,) + example shape`."""
    mask = validation.as_array("mask", mask)
    expected = (
        f"bool (or 0/1 numbers) of shape {shape}, or {shape[1:]}, or "
        f"either without the channel axis ({shape[:-1]} or {shape[1:-1]})"
    )
    if mask.dtype != bool:
        numeric = mask.dtype.kind in "iuf" and mask.size
        if not numeric or not np.isin(mask, (0, 1)).all():
            raise ValueError(
                f"`mask` must be {expected}: True (1) where the model "
                "generates, False (0) where the initial data is kept. "
                f"Received dtype {mask.dtype}: mask={validation.preview(mask)}"
            )
        mask = mask.astype(bool)
    if mask.shape in (shape[1:-1], shape[:-1]):
        mask = mask[..., None]
    if mask.ndim == len(shape) - 1:
        mask = mask[None]
    try:
        return np.broadcast_to(mask, shape).copy()
    except ValueError:
        raise ValueError(
            f"`mask` must be {expected}. Received shape {mask.shape}"
        ) from None


def _check_keys(model, name, inputs):
    key = model.data_key
    if set(inputs) - {key, "labels"} or key not in inputs:
        raise ValueError(
            f"`{name}` as a dict must have the key '{key}' and optionally "
            f"'labels'. Received keys: {sorted(inputs)}"
        )


def _check_labels_given_once(x, y):
    if y is not None and isinstance(x, dict) and "labels" in x:
        raise ValueError(
            "Pass labels either inside `x` (as x['labels']) or as `y`, "
            "not both."
        )


def _check_arrays(model, data, labels, name="y"):
    """Checks in-memory data in full, and its labels (`y`, or the
    labels of a batch)."""
    if not _is_array(data):
        return
    data = np.asarray(data)
    check_data_shape(model, "x", data.shape)
    if len(data) == 0:
        raise ValueError(
            f"`x` must hold at least one example. Received shape {data.shape}"
        )
    validation.check_pixels("x", data)
    if labels is None and model.num_classes:
        described = "`labels`" if name == "labels" else f"`{name}` (labels)"
        raise ValueError(
            f"{described} is required: this model is class-conditional "
            f"(num_classes={model.num_classes})."
        )
    if labels is not None and not model.num_classes:
        raise ValueError(
            f"`{name}` must be None: this model is unconditional "
            f"(num_classes=None). Received: {name} of shape "
            f"{np.shape(labels)}"
        )
    if labels is not None and _is_array(labels):
        validation.check_labels(name, labels, model.num_classes, len(data))


def _peek_first_batch(x):
    """`(kind, first batch, x)` of a stream, with a generator given back
    with its first batch in front; the first batch is None for an empty
    stream, and the kind None for data that is not a stream."""
    if hasattr(x, "element_spec") and hasattr(x, "take"):
        return "a tf.data.Dataset", next(iter(x.take(1)), None), x
    if isinstance(x, keras.utils.PyDataset):
        first = x[0] if x.num_batches != 0 else None
        return "a keras.utils.PyDataset", first, x
    if _is_torch_data_loader(x):
        return "a torch DataLoader", next(iter(x), None), x
    if isinstance(x, types.GeneratorType):
        first = next(x, None)
        return "a generator", first, _put_back(first, x)
    return None, None, x


def _put_back(first, rest):
    if first is not None:
        yield first
    yield from rest


def _is_torch_data_loader(x):
    return any(
        cls.__name__ == "DataLoader" and "torch.utils.data" in cls.__module__
        for cls in type(x).__mro__
    )


def _check_first_batch(model, kind, batch):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
    try:
        if isinstance(x, dict):
            _check_keys(model, "batch", x)
            _check_labels_given_once(x, y)
            x, y = x[model.data_key], x.get("labels", y)
        shape = tuple(np.shape(x))
        if shape == tuple(model.backbone.data_shape):
            raise ValueError(
                f"it is a single example of shape {shape}, not a batch "
                f"(batch, {_dims(shape)}): batch the data, e.g. "
                "`dataset.batch(32)` for a tf.data.Dataset."
            )
        _check_arrays(model, np.asarray(x), _to_numpy(y), name="labels")
    except ValueError as error:
        raise ValueError(
            f"The first batch of `x` ({kind}) is not valid: {error}"
        ) from None


def _to_numpy(value):
    return None if value is None else np.asarray(value)


def _is_array(value):
    return (
        value is not None
        and hasattr(value, "shape")
        and hasattr(value, "dtype")
        and not hasattr(value, "element_spec")
    )


def _dims(shape):
    return ", ".join(map(str, shape))
