"""Loading a preset from a handle: a built-in name, a directory, `hf://`
or `kaggle://`.

A preset follows keras-hub's layout: `config.json` (the serialised model),
`metadata.json` (versions, date, parameter count) and `model.weights.h5`
(absent in an architecture-only preset).
"""

import json
import os

import keras

from keras_rin.presets import registry

_HANDLE_FORMS = (
    "a built-in name, a local preset directory, hf://<org>/<name> or "
    "kaggle://<owner>/<model>/keras/<variation>"
)


def load_preset(handle, cls=None, load_weights=True, **overrides):
    """Builds the model of a preset and loads its weights.

    Args:
        handle: a built-in name (see `list_presets()`), a local preset
            directory, `hf://<org>/<name>` (needs `huggingface_hub`) or
            `kaggle://<owner>/<model>/keras/<variation>` (needs `kagglehub`).
        cls: the expected model class, or None for any.
        load_weights: bool. False, or a preset without weights, gives a
            randomly initialised model of the preset's configuration.
        **overrides: model config entries to replace (e.g.
            `sampling_schedule="linear"`). `dtype` (e.g.
            `"mixed_bfloat16"`) sets the dtype policy of the backbone too:
            a preset stores float32.

    Returns:
        The model.
    """
    directory, config = read_preset(handle, cls)
    if overrides.get("dtype") is not None:
        config = _with_backbone_dtype(config, overrides["dtype"])
    if overrides:
        config = dict(config, config={**config["config"], **overrides})
    model = keras.saving.deserialize_keras_object(config)
    weights = os.path.join(directory, registry.WEIGHTS_FILE)
    if load_weights and os.path.isfile(weights):
        _load_weights(handle, model, weights, cls)
    return model


def _with_backbone_dtype(config, dtype):
    model_config = dict(config["config"])
    backbone = model_config.get("backbone")
    if isinstance(backbone, dict) and "config" in backbone:
        policy = keras.dtype_policies.serialize(keras.dtype_policies.get(dtype))
        backbone = dict(
            backbone, config={**backbone["config"], "dtype": policy}
        )
        model_config["backbone"] = backbone
    return dict(config, config=model_config)


def read_preset(handle, cls=None):
    """The local directory of a preset and its serialised config, without
    building the model.

    Returns:
        `(directory, config)`, `config` being the parsed `config.json`.
    """
    directory = resolve_handle(handle, cls)
    return directory, _read_config(handle, directory, cls)


def read_backbone_config(handle):
    """The backbone arguments of a preset (a dict), without building the
    model: e.g. for `keras_rin.distribution.make_distribution`, which needs
    them before the model exists."""
    _, config = read_preset(handle)
    backbone = config["config"].get("backbone")
    if not isinstance(backbone, dict) or "config" not in backbone:
        raise preset_error(handle, "its config holds no backbone")
    return dict(backbone["config"])


def resolve_handle(handle, cls=None):
    """The local directory of a preset handle (downloading remote ones)."""
    if not isinstance(handle, (str, os.PathLike)):
        raise ValueError(
            f"`preset` must be a string: {_HANDLE_FORMS}. Received: "
            f"{handle!r} of type {type(handle).__name__}"
        )
    handle = os.fspath(handle)
    if handle.startswith("hf://"):
        return _download_huggingface(handle, cls)
    if handle.startswith("kaggle://"):
        return _download_kaggle(handle, cls)
    builtin = registry.builtin_presets()
    if handle in builtin:
        return builtin[handle]
    if os.path.isdir(handle):
        return handle
    raise preset_error(handle, "no such preset or directory", cls)


def preset_error(handle, problem, cls=None):
    """A `ValueError` that names the handle and lists the presets."""
    class_name = cls.__name__ if cls else None
    names = ", ".join(registry.list_presets(class_name)) or "none"
    return ValueError(
        f"Cannot load preset {handle!r}: {problem}. A preset handle is "
        f"{_HANDLE_FORMS}. Built-in presets: {names}."
    )


def _read_config(handle, directory, cls):
    path = os.path.join(directory, registry.CONFIG_FILE)
    if not os.path.isfile(path):
        raise preset_error(handle, f"{path} is missing", cls)
    try:
        with open(path) as file:
            config = json.load(file)
    except (OSError, ValueError) as error:
        raise preset_error(
            handle, f"{path} is not valid JSON ({error})", cls
        ) from error
    if not isinstance(config, dict) or "class_name" not in config:
        raise preset_error(
            handle, f"{path} does not hold a serialised Keras model", cls
        )
    if cls is not None and config["class_name"] != cls.__name__:
        raise preset_error(
            handle,
            f"it holds a {config['class_name']}, not a {cls.__name__}",
            cls,
        )
    return config


def _load_weights(handle, model, path, cls):
    saved_shapes = _weights_file_shapes(handle, path, cls)
    model_shapes = sorted(tuple(w.shape) for w in model.weights)
    if saved_shapes != model_shapes:
        raise preset_error(
            handle,
            f"{path} does not match the preset's configuration (it holds "
            f"{len(saved_shapes)} arrays, the model has {len(model_shapes)} "
            "variables, or their shapes differ)",
            cls,
        )
    try:
        model.load_weights(path)
    except Exception as error:
        raise preset_error(
            handle, f"loading {path} failed: {error}", cls
        ) from error


def _weights_file_shapes(handle, path, cls):
    import h5py

    shapes = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            shapes.append(tuple(item.shape))

    try:
        with h5py.File(path, "r") as file:
            file.visititems(collect)
    except OSError as error:
        raise preset_error(
            handle, f"{path} is corrupt or not an HDF5 file ({error})", cls
        ) from error
    return sorted(shapes)


def _download_huggingface(handle, cls):
    repo_id = handle[len("hf://") :].strip("/")
    if repo_id.count("/") != 1:
        raise preset_error(handle, "expected hf://<org>/<name>", cls)
    try:
        import huggingface_hub
    except ImportError as error:
        raise ImportError(
            f"Loading {handle!r} needs huggingface_hub: "
            "pip install 'keras-rin[hub]'"
        ) from error
    return huggingface_hub.snapshot_download(repo_id=repo_id)


def _download_kaggle(handle, cls):
    kaggle_handle = handle[len("kaggle://") :].strip("/")
    if kaggle_handle.count("/") < 3:
        raise preset_error(
            handle, "expected kaggle://<owner>/<model>/keras/<variation>", cls
        )
    try:
        import kagglehub
    except ImportError as error:
        raise ImportError(
            f"Loading {handle!r} needs kagglehub: pip install 'keras-rin[hub]'"
        ) from error
    return kagglehub.model_download(kaggle_handle)
