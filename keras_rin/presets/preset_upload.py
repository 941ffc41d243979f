"""Publishing a preset directory to the Hugging Face Hub or Kaggle, after
checking that it is a complete keras-rin preset.

An uploaded preset is either a full preset (`config.json`, `metadata.json`,
`model.weights.h5` and a `README.md` model card) or a LoRA preset
(`lora.json`, `lora.weights.h5`, `metadata.json` and `README.md`). The
hub libraries are imported only here, when an upload runs.
"""

import importlib
import json
import os

from keras_rin.presets import preset_loading
from keras_rin.presets import registry
from keras_rin.utils import files

_URI_FORMS = (
    "hf://<org>/<name> (the Hugging Face Hub) or "
    "kaggle://<owner>/<model>/keras/<variation> (Kaggle)"
)
# The module of each scheme's hub library.
_HUB_MODULES = {"hf": "huggingface_hub", "kaggle": "kagglehub"}
# The entries that a LoRA preset's lora.json holds at least.
_LORA_KEYS = ("base_preset", "rank", "targets")

_EXPECTED_FILES = (
    "An uploaded preset is a full preset ("
    f"{registry.CONFIG_FILE}, {registry.METADATA_FILE}, "
    f"{registry.WEIGHTS_FILE}, as `model.save_to_preset(...)` writes them, "
    f"and a {registry.MODEL_CARD_FILE} model card) or a LoRA preset ("
    f"{registry.LORA_CONFIG_FILE}, {registry.LORA_WEIGHTS_FILE}, "
    f"{registry.METADATA_FILE} and {registry.MODEL_CARD_FILE})"
)


def upload_preset(uri, preset_dir):
    """Uploads a preset directory to the Hugging Face Hub or Kaggle.

    The directory is checked first, before any network call: it must be a
    complete keras-rin preset. A full preset holds `config.json` (a
    keras-rin model that passes the checks of loading), `metadata.json`,
    `model.weights.h5` (the model is built and its weights loaded, so
    that a preset whose weights do not match its configuration is never
    published) and a non-empty `README.md` model card. A LoRA preset
    holds `lora.json` (its `base_preset` a built-in name or an `hf://` or
    `kaggle://` handle, never a local directory), `lora.weights.h5`,
    `metadata.json` and `README.md`. The directory is then uploaded as it
    is, with every other file in it (sample images, a training recipe).

    Args:
        uri: str, where to publish: `hf://<org>/<name>` (needs
            `huggingface_hub`; the model repository is created if need
            be) or `kaggle://<owner>/<model>/keras/<variation>` (needs
            `kagglehub`; each upload makes a new version).
        preset_dir: str or `os.PathLike`, the local preset directory.

    Returns:
        str, the handle of the uploaded preset (`uri`), which
        `from_preset` loads.

    Raises:
        ValueError: naming `uri` when it is not one of the forms above, or
            naming `preset_dir` when it is not a complete preset (a file
            missing or damaged, an architecture-only preset, a symbolic
            link or a file that is not a regular file in it).
        ImportError: when the hub library is not installed
            (`pip install 'keras-rin[hub]'`).
        Exception: the hub library's own errors (no network, a missing or
            wrong token, no right to write the repository) propagate
            unchanged.

    Example:
    ```python
    model.save_to_preset("presets/my_rin", "RIN on my images")
    # Write a model card, presets/my_rin/README.md, then:
    keras_rin.upload_preset("hf://my-org/my_rin", "presets/my_rin")
    model = keras_rin.RINImageGenerator.from_preset("hf://my-org/my_rin")
    ```
    """
    scheme, handle = _parse_uri(uri)
    hub = _import_hub(scheme, uri)
    directory = check_preset_directory(preset_dir)
    if scheme == "hf":
        hub.create_repo(repo_id=handle, exist_ok=True)
        hub.upload_folder(repo_id=handle, folder_path=directory)
    else:
        hub.model_upload(handle, directory)
    return f"{scheme}://{handle}"


def _parse_uri(uri):
    """`(scheme, handle)` of an upload URI, e.g. `("hf", "org/name")`."""
    if not isinstance(uri, str):
        raise _uri_error(
            uri, f"it is of type {type(uri).__name__}, not a string"
        )
    scheme, separator, handle = uri.partition("://")
    handle = handle.strip("/")
    parts = handle.split("/")
    if not separator or scheme not in _HUB_MODULES:
        raise _uri_error(uri, "unknown scheme")
    if scheme == "hf" and (len(parts) != 2 or not all(parts)):
        raise _uri_error(uri, "expected hf://<org>/<name>")
    if scheme == "kaggle" and (
        len(parts) != 4 or not all(parts) or parts[2] != "keras"
    ):
        raise _uri_error(
            uri,
            "expected kaggle://<owner>/<model>/keras/<variation> (Kaggle "
            "numbers the versions itself)",
        )
    return scheme, handle


def _uri_error(uri, problem):
    return ValueError(
        f"Cannot upload to `uri`={uri!r}: {problem}. An upload `uri` is "
        f"{_URI_FORMS}."
    )


def _import_hub(scheme, uri):
    name = _HUB_MODULES[scheme]
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"Uploading to {uri!r} needs {name}: pip install 'keras-rin[hub]'"
        ) from error


def check_preset_directory(preset_dir):
    """Checks that `preset_dir` is a complete preset to upload (see
    `upload_preset`) without any network call.

    Returns:
        str, the absolute path of the directory.

    Raises:
        ValueError: naming `preset_dir`, what is missing or wrong, and the
            files that a preset holds.
    """
    directory = _local_directory(preset_dir)
    _check_regular_files(preset_dir, directory)
    has_config = _has_file(directory, registry.CONFIG_FILE)
    has_lora = _has_file(directory, registry.LORA_CONFIG_FILE)
    if has_config and has_lora:
        raise upload_error(
            preset_dir,
            f"it holds both {registry.CONFIG_FILE} and "
            f"{registry.LORA_CONFIG_FILE}: a preset is one or the other",
        )
    if has_config:
        _check_full_preset(preset_dir, directory)
    elif has_lora:
        _check_lora_preset(preset_dir, directory)
    else:
        raise upload_error(
            preset_dir,
            f"it holds neither {registry.CONFIG_FILE} nor "
            f"{registry.LORA_CONFIG_FILE}",
        )
    return directory


def upload_error(preset_dir, problem):
    """A `ValueError` that names the directory and lists a preset's
    files."""
    return ValueError(
        f"Cannot upload preset {os.fspath(preset_dir)!r}: {problem}. "
        f"{_EXPECTED_FILES}."
    )


def _local_directory(preset_dir):
    if not isinstance(preset_dir, (str, os.PathLike)) or not os.fspath(
        preset_dir
    ):
        raise ValueError(
            "`preset_dir` must be the path of a local preset directory. "
            f"Received: preset_dir={preset_dir!r}"
        )
    # Absolute: a relative path must never be taken for a built-in name.
    directory = os.path.abspath(os.fspath(preset_dir))
    files.restore_interrupted_publish(directory)
    if not os.path.isdir(directory):
        raise upload_error(preset_dir, "no such directory")
    return directory


def _has_file(directory, name):
    return os.path.isfile(os.path.join(directory, name))


def _check_regular_files(preset_dir, directory):
    """A preset is uploaded as it is: a symbolic link would carry a file
    from outside it (or break), so it holds regular files only."""
    for root, folders, names in os.walk(directory):
        for name in folders + names:
            path = os.path.join(root, name)
            if os.path.islink(path) or not (
                os.path.isfile(path) or os.path.isdir(path)
            ):
                raise upload_error(
                    preset_dir,
                    f"{path} is a symbolic link or not a regular file (a "
                    "preset is uploaded as it is and holds regular files "
                    "only: copy the content in)",
                )


def _check_full_preset(preset_dir, directory):
    _read_json_object(preset_dir, directory, registry.METADATA_FILE)
    _check_model_card(preset_dir, directory)
    if not _has_file(directory, registry.WEIGHTS_FILE):
        raise upload_error(
            preset_dir,
            f"it has no {registry.WEIGHTS_FILE}: an architecture-only "
            "preset is not uploaded (save a trained model with "
            "`model.save_to_preset(...)`)",
        )
    # Builds the model and loads its weights: the checks of loading
    # (trusted objects only, the weights' shapes and finite values).
    try:
        preset_loading.load_preset(directory)
    except ValueError as error:
        problem = _loading_problem(error, directory)
        raise upload_error(
            preset_dir, f"it does not load: {problem}"
        ) from error


def _loading_problem(error, directory):
    """What a loading error says is wrong, without the handle and the
    handle forms that `preset_loading.preset_error` adds around it."""
    message = str(error).split(". A preset handle is ")[0]
    prefix = f"Cannot load preset {directory!r}: "
    return message.removeprefix(prefix).rstrip(".")


def _check_lora_preset(preset_dir, directory):
    config = _read_json_object(preset_dir, directory, registry.LORA_CONFIG_FILE)
    _check_lora_config(preset_dir, config)
    _read_json_object(preset_dir, directory, registry.METADATA_FILE)
    _check_model_card(preset_dir, directory)
    _check_hdf5_file(preset_dir, directory, registry.LORA_WEIGHTS_FILE)
    _check_base_preset(preset_dir, config["base_preset"])


def _read_json_object(preset_dir, directory, name):
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise upload_error(preset_dir, f"{name} is missing")
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except (OSError, ValueError) as error:
        raise upload_error(
            preset_dir, f"{name} is not valid JSON ({error})"
        ) from error
    if not isinstance(content, dict):
        raise upload_error(
            preset_dir,
            f"{name} holds a {type(content).__name__}, not a JSON object",
        )
    return content


def _check_model_card(preset_dir, directory):
    name = registry.MODEL_CARD_FILE
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise upload_error(
            preset_dir,
            f"{name} is missing: write a model card (what the model is, "
            "its data, how to load it) before publishing",
        )
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, ValueError) as error:
        raise upload_error(
            preset_dir, f"{name} is not readable text ({error})"
        ) from error
    if not text.strip():
        raise upload_error(preset_dir, f"{name}, the model card, is empty")


def _check_lora_config(preset_dir, config):
    name = registry.LORA_CONFIG_FILE
    base, rank, targets = (config.get(k) for k in _LORA_KEYS)
    problems = []
    if not isinstance(base, str) or not base:
        problems.append(f"'base_preset' must be a preset handle, not {base!r}")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        problems.append(f"'rank' must be an integer >= 1, not {rank!r}")
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, str) and t for t in targets)
    ):
        problems.append(
            f"'targets' must be a list of layer names, not {targets!r}"
        )
    if problems:
        raise upload_error(preset_dir, f"in {name}, " + "; ".join(problems))


def _check_hdf5_file(preset_dir, directory, name):
    import h5py

    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise upload_error(preset_dir, f"{name} is missing")
    if not h5py.is_hdf5(path):
        raise upload_error(preset_dir, f"{name} is not an HDF5 file")


def _check_base_preset(preset_dir, base):
    """A LoRA preset is loaded on its base preset: whoever downloads it
    must be able to load that too."""
    if base in registry.builtin_presets() or _is_hub_handle(base):
        return
    raise upload_error(
        preset_dir,
        f"its {registry.LORA_CONFIG_FILE} names the base preset {base!r}, "
        "which is neither a built-in preset nor an hf:// or kaggle:// "
        "handle, so nobody who downloads it could load it. Upload the base "
        "preset first (keras_rin.upload_preset(uri, base_dir)) and name "
        f"its handle as 'base_preset' in {registry.LORA_CONFIG_FILE}",
    )


def _is_hub_handle(handle):
    """Whether `handle` is an `hf://` or a `kaggle://` preset handle (a
    Kaggle one may name a version)."""
    scheme, separator, rest = handle.partition("://")
    parts = rest.strip("/").split("/")
    counts = {"hf": (2,), "kaggle": (4, 5)}.get(scheme, ())
    return bool(separator) and len(parts) in counts and all(parts)
