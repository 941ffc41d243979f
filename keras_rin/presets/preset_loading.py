"""Loading a preset from a handle: a built-in name, a directory, `hf://`
or `kaggle://`.

A preset follows keras-hub's layout: `config.json` (the serialised model),
`metadata.json` (versions, date, parameter count) and `model.weights.h5`
(absent in an architecture-only preset). A LoRA preset holds LoRA weights
and the handle of its base preset instead (`keras_rin.presets.lora_preset`).
"""

import json
import os

import keras
import numpy as np

from keras_rin.presets import registry
from keras_rin.utils import files
from keras_rin.utils import validation

# A preset loads only objects of these packages: anything else would make
# Keras import (and run) another package's code.
_TRUSTED_PACKAGES = ("keras", "keras_rin")

_HANDLE_FORMS = (
    "a built-in name, a local preset directory, hf://<org>/<name> or "
    "kaggle://<owner>/<model>/keras/<variation>"
)


# Overrides of `load_preset` that belong to the backbone's config.
BACKBONE_OVERRIDES = ("rematerialize_blocks",)


def load_preset(handle, cls=None, load_weights=True, **overrides):
    """Builds the model of a preset and loads its weights.

    Args:
        handle: a built-in name (see `list_presets()`), a local preset
            directory, `hf://<org>/<name>` (needs `huggingface_hub`) or
            `kaggle://<owner>/<model>/keras/<variation>` (needs `kagglehub`).
        cls: the expected model class, or None for any.
        load_weights: bool (a real one). False, or a preset without
            weights, gives a randomly initialised model of the preset's
            configuration.
        **overrides: model config entries to replace (e.g.
            `sampling_schedule="linear"`). `dtype` (e.g.
            `"mixed_bfloat16"`) sets the dtype policy of the backbone too:
            a preset stores float32. `rematerialize_blocks=True` goes to
            the backbone (gradient checkpointing, to fine-tune a large
            preset in less memory).

    Returns:
        The model.

    Raises:
        ValueError: naming the handle, when the preset cannot be found or
            downloaded, is not a keras-rin preset, or its files are
            damaged. Only keras and keras-rin objects are loaded, in Keras'
            safe mode: a preset never runs code of its own.
    """
    from keras_rin.presets import lora_preset

    load_weights = validation.check_bool("load_weights", load_weights)
    directory = resolve_handle(handle, cls)
    if lora_preset.is_lora_preset(directory):
        return lora_preset.load_lora_preset(
            handle, directory, cls, load_weights, overrides
        )
    config = _read_config(handle, directory, cls)
    if overrides.get("dtype") is not None:
        config = _with_backbone_dtype(config, overrides["dtype"])
    backbone_overrides = {
        name: overrides.pop(name)
        for name in BACKBONE_OVERRIDES
        if name in overrides
    }
    config = _with_backbone_config(config, backbone_overrides)
    if overrides:
        config = dict(config, config={**config["config"], **overrides})
    model = _deserialize(handle, directory, config, cls)
    weights = os.path.join(directory, registry.WEIGHTS_FILE)
    if load_weights and os.path.isfile(weights):
        _load_weights(handle, model, weights, cls)
    # Where the weights came from: a LoRA preset saved later names it.
    model.preset_handle = _portable_handle(handle)
    return model


def _portable_handle(handle):
    handle = os.fspath(handle)
    if handle.startswith(("hf://", "kaggle://")):
        return handle
    if handle in registry.builtin_presets():
        return handle
    return os.path.abspath(handle)


def _with_backbone_dtype(config, dtype):
    policy = keras.dtype_policies.serialize(keras.dtype_policies.get(dtype))
    return _with_backbone_config(config, {"dtype": policy})


def _with_backbone_config(config, entries):
    """The preset config with `entries` replaced in its backbone's."""
    model_config = dict(config["config"])
    backbone = model_config.get("backbone")
    if entries and isinstance(backbone, dict) and "config" in backbone:
        backbone = dict(backbone, config={**backbone["config"], **entries})
        model_config["backbone"] = backbone
    return dict(config, config=model_config)


def _deserialize(handle, directory, config, cls):
    """The model of a checked config. Keras reports a config that does not
    build as a `TypeError` holding the whole config; the cause comes last.
    Our own checks raise `ValueError`s that name the argument: they pass."""
    try:
        return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except TypeError as error:
        cause = str(error).split("Exception encountered:")[-1].strip()
        path = os.path.join(directory, registry.CONFIG_FILE)
        raise preset_error(
            handle, f"{path} does not build a model: {cause}", cls
        ) from error


def read_preset(handle, cls=None):
    """The local directory of a preset and its serialised config, without
    building the model.

    Returns:
        `(directory, config)`, `config` being the parsed `config.json`;
        for a LoRA preset, those of its base preset.
    """
    from keras_rin.presets import lora_preset

    directory = resolve_handle(handle, cls)
    if lora_preset.is_lora_preset(directory):
        base = lora_preset.read_lora_config(handle, directory, cls)
        return read_preset(base["base_preset"], cls)
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
    files.restore_interrupted_publish(handle)
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
    _check_trusted_config(handle, path, config, cls)
    return config


def _check_trusted_config(handle, path, config, cls):
    """Refuses a config that is not a keras-rin model before Keras reads
    it: every serialised object must come from keras or keras_rin under
    the registered name of its class; the model must be a keras-rin
    diffusion model (of `cls`) with its config and a keras-rin backbone."""
    from keras_rin.models.rin_backbone_base import RINBackboneBase
    from keras_rin.models.rin_diffusion_model import RINDiffusionModel

    _check_serialised_objects(handle, path, config, cls)
    model_class = _registered_class(
        handle, path, (config, "model"), RINDiffusionModel, cls
    )
    if cls is not None and not issubclass(model_class, cls):
        raise preset_error(
            handle,
            f"it holds a {model_class.__name__}, not a {cls.__name__}",
            cls,
        )
    model_config = config.get("config")
    if not isinstance(model_config, dict):
        raise preset_error(
            handle, f"{path} holds no model config (its 'config' entry)", cls
        )
    backbone = model_config.get("backbone")
    if not isinstance(backbone, dict) or not isinstance(
        backbone.get("config"), dict
    ):
        raise preset_error(
            handle,
            f"{path} holds no backbone (the model config's 'backbone' "
            "entry with its 'config')",
            cls,
        )
    _registered_class(
        handle, path, (backbone, "backbone"), RINBackboneBase, cls
    )


def _check_serialised_objects(handle, path, value, cls):
    """Walks a config: each serialised object (a dict with a
    `class_name`) must be of a trusted package, not a lambda, and its
    registered name must end with its class name."""
    if isinstance(value, list):
        for item in value:
            _check_serialised_objects(handle, path, item, cls)
    if not isinstance(value, dict):
        return
    if "class_name" in value:
        problem = _untrusted_object_problem(value)
        if problem:
            raise preset_error(
                handle,
                f"{path} is not a keras-rin preset: {problem} (a preset "
                "loads only keras and keras_rin objects and runs no code "
                "of its own)",
                cls,
            )
    for item in value.values():
        _check_serialised_objects(handle, path, item, cls)


def _untrusted_object_problem(entry):
    """What makes a serialised object untrusted, or None."""
    class_name = entry.get("class_name")
    module = entry.get("module")
    registered_name = entry.get("registered_name")
    if class_name == "__lambda__":
        return "it holds a lambda (Python code)"
    if module is not None and not (
        isinstance(module, str)
        and any(
            module == package or module.startswith(package + ".")
            for package in _TRUSTED_PACKAGES
        )
    ):
        return f"{class_name!r} comes from module {module!r}"
    if registered_name is not None and (
        not isinstance(registered_name, str)
        or registered_name.split(">")[-1] != class_name
    ):
        return (
            f"its class_name {class_name!r} does not match its "
            f"registered_name {registered_name!r}"
        )
    return None


def _registered_class(handle, path, entry_and_kind, base, cls):
    """The class that a serialised object's registered name loads; it must
    be a subclass of `base`. `entry_and_kind`: the object's config and
    what it is (`"model"`, `"backbone"`), for the message."""
    entry, kind = entry_and_kind
    registered_name = entry.get("registered_name")
    found = None
    if isinstance(registered_name, str):
        found = keras.saving.get_registered_object(registered_name)
    if not (isinstance(found, type) and issubclass(found, base)):
        raise preset_error(
            handle,
            f"{path} is not a keras-rin preset: its {kind} is a "
            f"{entry.get('class_name')!r} registered as "
            f"{registered_name!r}, not a keras-rin {kind}",
            cls,
        )
    return found


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
    damaged = [
        w.path
        for w in model.weights
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(w)))
    ]
    if damaged:
        raise preset_error(
            handle,
            f"{path} is damaged: it holds non-finite values (NaN or inf) "
            f"in {len(damaged)} arrays, e.g. {damaged[0]}",
            cls,
        )


def _weights_file_shapes(handle, path, cls):
    import h5py

    shapes = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            shapes.append(tuple(item.shape))

    try:
        with h5py.File(path, "r") as file:
            file.visititems(collect)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
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
    return _download(
        handle,
        cls,
        "the Hugging Face Hub",
        lambda: huggingface_hub.snapshot_download(repo_id=repo_id),
    )


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
    return _download(
        handle, cls, "Kaggle", lambda: kagglehub.model_download(kaggle_handle)
    )


def _download(handle, cls, hub, download):
    """Runs a hub library's `download()`; its many error types (no
    network, not in the cache, no such repository) become one error that
    names the handle."""
    try:
        return download()
    except Exception as error:
        raise preset_error(
            handle,
            f"downloading it from {hub} failed: the network or {hub} is "
            "unavailable and the local cache does not hold it, or it does "
            f"not exist ({type(error).__name__}: {error})",
            cls,
        ) from error
