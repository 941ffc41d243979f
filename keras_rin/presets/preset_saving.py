"""Saving a model as a preset directory, atomically.

A preset follows keras-hub's layout: `config.json` (the serialised model),
`metadata.json` (versions, date, parameter count) and `model.weights.h5`.
"""

import datetime
import json
import os
import shutil
import warnings

import keras

from keras_rin.models import lora
from keras_rin.presets import registry
from keras_rin.utils import files
from keras_rin.utils import flops
from keras_rin.version import __version__

# The files a save writes anew (a full preset's or a LoRA preset's): the
# others of an existing preset are carried over.
PRESET_FILES = (
    registry.CONFIG_FILE,
    registry.METADATA_FILE,
    registry.WEIGHTS_FILE,
    registry.LORA_CONFIG_FILE,
    registry.LORA_WEIGHTS_FILE,
)


def save_preset(model, directory, description=None):
    """Writes `model` to `directory` as a preset, atomically.

    Everything is written to a hidden staging directory next to the target
    and renamed into place at the end, so an interrupted save leaves either
    the previous preset or the new one, never a half-written one (see
    `keras_rin.utils.files`; stale staging directories of killed saves are
    removed by the next save or load of the preset). Regular files of an
    existing preset other than the preset files (a model card, sample
    images) are kept; symbolic links among them are left out, with a
    warning: a preset is uploaded as it is, and a link would either break
    or carry the content of a file outside the preset.

    Args:
        model: the model to save (a `RINImageGenerator`, ...).
        directory: str, the preset directory to create or replace.
        description: str or None, a one-line description for
            `metadata.json` (kept from the existing preset when None).

    Raises:
        OSError: when the disk has no room for the weights (or they would
            pass the process' file-size limit); the old preset is kept.
    """
    config = model_config(model)

    def write(staging, old_metadata):
        if description is None:
            kept = old_metadata.get("description", "")
        else:
            kept = description
        write_json(os.path.join(staging, registry.CONFIG_FILE), config)
        write_json(
            os.path.join(staging, registry.METADATA_FILE),
            preset_metadata(model, kept),
        )
        _save_model_weights(
            model, config, os.path.join(staging, registry.WEIGHTS_FILE)
        )

    publish_preset(
        directory, files.expected_weights_file_size(model.weights), write
    )


def publish_preset(directory, nbytes, write):
    """Writes a preset directory atomically: `write(staging,
    old_metadata)` fills a staging directory that holds the extra files of
    the preset there (model card, images), then it replaces the preset.
    `nbytes` is the expected size, checked against the disk's room."""
    check_path_argument("directory", directory)
    directory = os.path.abspath(os.fspath(directory))
    files.restore_interrupted_publish(directory)
    _check_replaceable(directory)
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    files.check_room(
        os.path.dirname(directory), nbytes, f"the preset {directory}"
    )
    staging = files.make_staging_directory(directory)
    try:
        _copy_extra_files(directory, staging)
        write(staging, registry.read_metadata(directory))
        files.publish_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_path_argument(name, value):
    """Raises a `ValueError` naming the argument `name` unless `value` is
    a path (a string or an `os.PathLike`)."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ValueError(
            f"`{name}` must be a path string (a directory to create or "
            f"replace). Received: {name}={value!r}"
        )


def model_config(model):
    """The serialised model without its training state (a preset is for
    inference and fine-tuning: it is loaded uncompiled)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    return config


def _save_model_weights(model, config, path):
    # `save_weights` of a compiled model also writes the optimizer's
    # variables; a preset holds the model's weights only, so they are saved
    # from an uncompiled copy (without LoRA: its products merged).
    if getattr(model, "optimizer", None) is not None or lora.lora_layers(model):
        copy = keras.saving.deserialize_keras_object(config)
        copy.set_weights(lora.merged_values(model))
        model = copy
    files.save_weights_file(model, path)


def preset_metadata(model, description=""):
    """The `metadata.json` content for `model`."""
    return {
        "keras_version": keras.__version__,
        "keras_rin_version": __version__,
        "parameter_count": lora.count_base_params(model),
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
    if not any(
        os.path.isfile(os.path.join(directory, name))
        for name in (registry.CONFIG_FILE, registry.LORA_CONFIG_FILE)
    ):
        raise ValueError(
            f"Not saving over {directory}: it is not empty and is not a "
            f"preset (it has no {registry.CONFIG_FILE} or "
            f"{registry.LORA_CONFIG_FILE}). Choose a new or an empty "
            "directory."
        )


def _copy_extra_files(directory, staging):
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name in PRESET_FILES:
            continue
        source = os.path.join(directory, name)
        target = os.path.join(staging, name)
        if _is_link_left_out(source):
            continue
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=_ignore_links)
        else:
            shutil.copy2(source, target)


def _ignore_links(directory, names):
    return [
        name
        for name in names
        if _is_link_left_out(os.path.join(directory, name))
    ]


def _is_link_left_out(path):
    if os.path.islink(path) or not (
        os.path.isfile(path) or os.path.isdir(path)
    ):
        warnings.warn(
            f"Not carrying {path} over to the new preset: it is a symbolic "
            "link or not a regular file, and a preset holds only regular "
            "files (its content may lie outside the preset).",
            stacklevel=4,
        )
        return True
    return False


def write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file, indent=2)
        file.write("\n")
