"""The built-in presets: the folders of `applications/` (shipped inside the
wheel as `keras_rin.applications`)."""

import importlib.resources
import json
import os
import re

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
MODEL_CARD_FILE = "README.md"
# A LoRA preset holds the low-rank weights alone and names its base preset.
LORA_CONFIG_FILE = "lora.json"
LORA_WEIGHTS_FILE = "lora.weights.h5"


def applications_dir():
    """The directory that holds the built-in preset folders."""
    try:
        return str(importlib.resources.files("keras_rin.applications"))
    except ModuleNotFoundError:
        # A source checkout used without installing: `applications/` sits
        # next to the `keras_rin/` package.
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return os.path.join(os.path.dirname(package), "applications")


def builtin_presets():
    """`{name: directory}` of every built-in preset, sorted by name."""
    root = applications_dir()
    if not os.path.isdir(root):
        return {}
    names = sorted(
        (
            name
            for name in os.listdir(root)
            if os.path.isfile(os.path.join(root, name, CONFIG_FILE))
        ),
        key=_natural_order,
    )
    return {name: os.path.join(root, name) for name in names}


def read_metadata(directory):
    """The preset's `metadata.json` as a dict (empty when there is none)."""
    path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as file:
        return json.load(file)


def list_presets(class_name=None):
    """`{name: metadata}` of the built-in presets, optionally only those of
    one model class (e.g. `"RINImageGenerator"`).

    Each metadata dict holds at least `description`, `class_name`,
    `parameter_count`, `flops` (one forward pass of one example),
    `has_weights` and `path`.

    Example:
    ```python
    for name, info in keras_rin.presets.list_presets().items():
        print(name, info["description"])
    ```
    """
    presets = {}
    for name, directory in builtin_presets().items():
        metadata = read_metadata(directory)
        if class_name and metadata.get("class_name") != class_name:
            continue
        metadata["has_weights"] = os.path.isfile(
            os.path.join(directory, WEIGHTS_FILE)
        )
        metadata["path"] = directory
        presets[name] = metadata
    return presets


def _natural_order(name):
    # "rin_imagenet_64" before "rin_imagenet_128".
    return [
        int(part) if part.isdigit() else part
        for part in re.split(r"(\d+)", name)
    ]
