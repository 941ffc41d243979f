"""Saving a model as a preset directory, atomically.

A preset follows keras-hub's layout: `config.json` (the serialised model),
`metadata.json` (versions, date, parameter count) and `model.weights.h5`.
"""

import datetime
import json
import os
import shutil
import tempfile

import keras

from keras_rin.presets import registry
from keras_rin.utils import flops
from keras_rin.version import __version__

PRESET_FILES = (
    registry.CONFIG_FILE,
    registry.METADATA_FILE,
    registry.WEIGHTS_FILE,
)


def save_preset(model, directory, description=None):
    """Writes `model` to `directory` as a preset, atomically.

    Everything is written to a temporary directory next to the target and
    renamed into place at the end, so an interrupted save leaves either the
    previous preset or none, never a half-written one. Files of an existing
    preset other than the preset files (a model card, sample images) are
    kept.

    Args:
        model: the model to save (a `RINImageGenerator`, ...).
        directory: str, the preset directory to create or replace.
        description: str or None, a one-line description for
            `metadata.json` (kept from the existing preset when None).
    """
    directory = os.path.abspath(os.fspath(directory))
    _check_replaceable(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f".{os.path.basename(directory)}.partial-", dir=parent
    )
    try:
        # mkdtemp makes a private (0700) directory; a preset gets the
        # permissions of any new directory.
        os.chmod(staging, 0o777 & ~_current_umask())
        _copy_extra_files(directory, staging)
        old_metadata = registry.read_metadata(directory)
        if description is None:
            description = old_metadata.get("description", "")
        config = model_config(model)
        _write_json(os.path.join(staging, registry.CONFIG_FILE), config)
        _write_json(
            os.path.join(staging, registry.METADATA_FILE),
            preset_metadata(model, description),
        )
        _save_model_weights(
            model, config, os.path.join(staging, registry.WEIGHTS_FILE)
        )
        _swap_into_place(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def model_config(model):
    """The serialised model without its training state (a preset is for
    inference and fine-tuning: it is loaded uncompiled)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    return config


def _save_model_weights(model, config, path):
    # `save_weights` of a compiled model also writes the optimizer's
    # variables; a preset holds the model's weights only, so they are saved
    # from an uncompiled copy.
    if getattr(model, "optimizer", None) is not None:
        copy = keras.saving.deserialize_keras_object(config)
        copy.set_weights(model.get_weights())
        model = copy
    model.save_weights(path)


def preset_metadata(model, description=""):
    """The `metadata.json` content for `model`."""
    return {
        "keras_version": keras.__version__,
        "keras_rin_version": __version__,
        "parameter_count": int(model.count_params()),
        "flops": int(flops.count_flops(model)),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "class_name": type(model).__name__,
        "description": description,
    }


def _check_replaceable(directory):
    if os.path.isfile(directory):
        raise ValueError(
            f"`directory` must be a directory path. Received a file: "
            f"{directory}"
        )
    if not os.path.isdir(directory) or not os.listdir(directory):
        return
    if not os.path.isfile(os.path.join(directory, registry.CONFIG_FILE)):
        raise ValueError(
            f"Not saving over {directory}: it is not empty and is not a "
            f"preset (it has no {registry.CONFIG_FILE}). Choose a new or an "
            "empty directory."
        )


def _copy_extra_files(directory, staging):
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name in PRESET_FILES:
            continue
        source = os.path.join(directory, name)
        target = os.path.join(staging, name)
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)


def _swap_into_place(staging, directory):
    if not os.path.exists(directory):
        os.rename(staging, directory)
        return
    # A directory cannot be renamed over a non-empty one: move the old
    # preset aside first, so a complete preset is always at one of the two.
    retired = staging + ".old"
    os.rename(directory, retired)
    os.rename(staging, directory)
    shutil.rmtree(retired, ignore_errors=True)


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file, indent=2)
        file.write("\n")
