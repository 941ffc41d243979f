"""LoRA presets: the LoRA weights of a fine-tune alone, beside the handle
of the preset they adapt.

A LoRA preset directory holds `lora.json` (the base preset's handle, the
SHA-256 of its weights file, the rank, scale and targets),
`lora.weights.h5` (each adapted layer's `A` and `B`, in the backbone's
order), `metadata.json` and, for sharing, a model card (`README.md`).
Loading it loads the base preset, enables LoRA as it was and loads the
LoRA weights; it fails with a clear error when the base preset's weights
are not those the LoRA weights were trained on.
"""

import hashlib
import json
import os

import h5py
import numpy as np
from keras import ops

from keras_rin.models import lora
from keras_rin.presets import preset_loading
from keras_rin.presets import preset_saving
from keras_rin.presets import registry

_FORMAT_VERSION = 1


def is_lora_preset(directory):
    """Whether a preset directory is a LoRA preset."""
    return os.path.isfile(
        os.path.join(directory, registry.LORA_CONFIG_FILE)
    ) and not os.path.isfile(os.path.join(directory, registry.CONFIG_FILE))


def save_lora_preset(model, directory, description=None, base_preset=None):
    """Writes the LoRA weights of `model` alone as a preset, atomically.

    Args:
        model: a model whose backbone has LoRA enabled.
        directory: str, the preset directory to create or replace.
        description: str or None, for `metadata.json` (kept from the
            existing preset when None).
        base_preset: the handle of the preset that the LoRA adapts, or
            None for the one the model was loaded from (`from_preset`).

    Raises:
        ValueError: when LoRA is not enabled, or the base preset is
            unknown, is itself a LoRA preset or has no weights.
    """
    config = model.backbone.lora_config
    if config is None:
        raise ValueError(
            "`lora_only=True` needs a backbone with LoRA enabled "
            "(`model.backbone.enable_lora(rank)`). Received a model "
            "without LoRA"
        )
    base = _base_handle(model, base_preset)
    lora_config = {
        "format_version": _FORMAT_VERSION,
        "base_preset": base,
        "base_weights_sha256": _base_weights_digest(base),
        "class_name": type(model).__name__,
        **config.to_dict(),
    }
    variables = lora.lora_weights(model)

    def write(staging, old_metadata):
        if description is None:
            kept = old_metadata.get("description", "")
        else:
            kept = description
        metadata = dict(
            preset_saving.preset_metadata(model, kept),
            parameter_count=int(sum(np.prod(v.shape) for v in variables)),
            base_preset=base,
        )
        preset_saving.write_json(
            os.path.join(staging, registry.LORA_CONFIG_FILE), lora_config
        )
        preset_saving.write_json(
            os.path.join(staging, registry.METADATA_FILE), metadata
        )
        _write_lora_weights(
            model, os.path.join(staging, registry.LORA_WEIGHTS_FILE)
        )

    nbytes = 2 * sum(4 * int(np.prod(v.shape)) for v in variables) + 2**20
    preset_saving.publish_preset(directory, nbytes, write)


def load_lora_preset(handle, directory, cls, load_weights, overrides):
    """The model of a LoRA preset: its base preset with LoRA enabled and
    the LoRA weights loaded (`load_weights` and `overrides` as in
    `load_preset`)."""
    config = read_lora_config(handle, directory, cls)
    base = config["base_preset"]
    base_directory = preset_loading.resolve_handle(base, cls)
    if is_lora_preset(base_directory):
        raise preset_loading.preset_error(
            handle, f"its base preset {base!r} is itself a LoRA preset", cls
        )
    if load_weights:
        digest = _weights_digest(base_directory)
        if digest != config["base_weights_sha256"]:
            raise preset_loading.preset_error(
                handle,
                f"its LoRA weights were trained on other weights of the "
                f"base preset {base!r} (SHA-256 {digest}, expected "
                f"{config['base_weights_sha256']})",
                cls,
            )
    model = preset_loading.load_preset(base, cls, load_weights, **overrides)
    model.backbone.enable_lora(
        config["rank"], config["targets"], config["alpha"]
    )
    if load_weights:
        path = os.path.join(directory, registry.LORA_WEIGHTS_FILE)
        _load_lora_weights(handle, model, path, cls)
    model.preset_handle = base
    return model


def read_lora_config(handle, directory, cls=None):
    """The checked content of a LoRA preset's `lora.json`."""
    path = os.path.join(directory, registry.LORA_CONFIG_FILE)
    try:
        with open(path) as file:
            config = json.load(file)
    except (OSError, ValueError) as error:
        raise preset_loading.preset_error(
            handle, f"{path} is not valid JSON ({error})", cls
        ) from error
    problem = _lora_config_problem(config)
    if problem:
        raise preset_loading.preset_error(
            handle, f"{path} is not a keras-rin LoRA config: {problem}", cls
        )
    if cls is not None and config["class_name"] != cls.__name__:
        raise preset_loading.preset_error(
            handle,
            f"it adapts a {config['class_name']}, not a {cls.__name__}",
            cls,
        )
    return config


def _lora_config_problem(config):
    if not isinstance(config, dict):
        return "it holds no JSON object"
    expected = {
        "base_preset": str,
        "base_weights_sha256": str,
        "class_name": str,
        "rank": int,
        "alpha": (int, float),
        "targets": list,
    }
    for key, kind in expected.items():
        if not isinstance(config.get(key), kind):
            return f"its {key!r} entry is missing or not a {kind}"
    try:
        lora.check_lora_arguments(
            config["rank"], config["targets"], config["alpha"]
        )
    except ValueError as error:
        return str(error)
    return None


def _base_handle(model, base_preset):
    base = base_preset or getattr(model, "preset_handle", None)
    if not isinstance(base, (str, os.PathLike)):
        raise ValueError(
            "`base_preset` must name the preset that the LoRA adapts (a "
            "built-in name, a directory, hf:// or kaggle://); the model "
            "was not loaded with `from_preset`, so it is not known. "
            f"Received: base_preset={base_preset!r}"
        )
    base = os.fspath(base)
    directory = preset_loading.resolve_handle(base)
    if is_lora_preset(directory):
        raise ValueError(
            f"`base_preset` must be a full preset, not a LoRA preset. "
            f"Received: base_preset={base!r}"
        )
    return base


def _base_weights_digest(base):
    directory = preset_loading.resolve_handle(base)
    if not os.path.isfile(os.path.join(directory, registry.WEIGHTS_FILE)):
        raise ValueError(
            f"`base_preset` must have weights: {base!r} is an "
            "architecture-only preset, so its LoRA weights could not be "
            "loaded on the same base. Save the base model as a preset "
            "first."
        )
    return _weights_digest(directory)


def _weights_digest(directory):
    digest = hashlib.sha256()
    path = os.path.join(directory, registry.WEIGHTS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_lora_weights(model, path):
    with h5py.File(path, "w") as file:
        for index, layer in enumerate(lora.lora_layers(model)):
            group = file.create_group(f"layer_{index:04d}")
            group.attrs["path"] = layer.path
            group["lora_kernel_a"] = ops.convert_to_numpy(layer.lora_kernel_a)
            group["lora_kernel_b"] = ops.convert_to_numpy(layer.lora_kernel_b)


def _load_lora_weights(handle, model, path, cls):
    layers = lora.lora_layers(model)
    try:
        with h5py.File(path, "r") as file:
            groups = sorted(file.keys())
            values = [
                (file[g]["lora_kernel_a"][()], file[g]["lora_kernel_b"][()])
                for g in groups
            ]
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise preset_loading.preset_error(
            handle,
            f"{path} is missing, corrupt or not LoRA weights ({error})",
            cls,
        ) from error
    expected = [
        (tuple(layer.lora_kernel_a.shape), tuple(layer.lora_kernel_b.shape))
        for layer in layers
    ]
    found = [(a.shape, b.shape) for a, b in values]
    if found != expected:
        raise preset_loading.preset_error(
            handle,
            f"{path} does not match its LoRA config ({len(found)} layers "
            f"saved, {len(expected)} adapted, or their shapes differ)",
            cls,
        )
    if not all(
        np.all(np.isfinite(a)) and np.all(np.isfinite(b)) for a, b in values
    ):
        raise preset_loading.preset_error(
            handle, f"{path} is damaged: it holds non-finite values", cls
        )
    for layer, (a, b) in zip(layers, values, strict=True):
        layer.lora_kernel_a.assign(a)
        layer.lora_kernel_b.assign(b)
