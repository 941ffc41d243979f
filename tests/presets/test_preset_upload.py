"""`keras_rin.upload_preset`: the checks before any network call, and the
round trip through stand-ins of `huggingface_hub` and `kagglehub` that
copy the preset into a local "remote" directory (no network)."""

import json
import os
import shutil
import sys
import types

import h5py
import numpy as np
import pytest

import keras_rin
from keras_rin.presets import preset_upload
from tests.helpers import assert_weights_equal
from tests.helpers import tiny_backbone


class StandInHubs:
    """Stand-ins of the two hub libraries: uploads copy the folder into
    `remote/<scheme>/<handle>`, downloads return that folder, and every
    upload call is recorded."""

    def __init__(self, remote):
        self.remote = remote
        self.calls = []

    def folder(self, scheme, handle):
        return os.path.join(self.remote, scheme, *handle.split("/"))

    def huggingface_hub(self):
        def create_repo(repo_id, exist_ok=False, **kwargs):
            self.calls.append(("create_repo", repo_id, exist_ok))
            os.makedirs(self.folder("hf", repo_id), exist_ok=exist_ok)

        def upload_folder(repo_id, folder_path, **kwargs):
            self.calls.append(("upload_folder", repo_id, folder_path))
            target = self.folder("hf", repo_id)
            shutil.copytree(folder_path, target, dirs_exist_ok=True)

        def snapshot_download(repo_id, **kwargs):
            return self.folder("hf", repo_id)

        return types.SimpleNamespace(
            create_repo=create_repo,
            upload_folder=upload_folder,
            snapshot_download=snapshot_download,
        )

    def kagglehub(self):
        def model_upload(handle, local_model_dir, **kwargs):
            self.calls.append(("model_upload", handle, local_model_dir))
            target = self.folder("kaggle", handle)
            shutil.copytree(local_model_dir, target, dirs_exist_ok=True)

        def model_download(handle, path=None, **kwargs):
            return self.folder("kaggle", handle)

        return types.SimpleNamespace(
            model_upload=model_upload, model_download=model_download
        )

    def install(self, monkeypatch):
        monkeypatch.setitem(
            sys.modules, "huggingface_hub", self.huggingface_hub()
        )
        monkeypatch.setitem(sys.modules, "kagglehub", self.kagglehub())
        return self


@pytest.fixture
def hubs(tmp_path, monkeypatch):
    return StandInHubs(str(tmp_path / "remote")).install(monkeypatch)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny model and its preset, with a model card and extra files."""
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    directory = str(tmp_path_factory.mktemp("upload") / "tiny")
    model.save_to_preset(directory, description="tiny")
    write(directory, "README.md", "# Tiny RIN\n\nA test preset.\n")
    write(directory, "recipe.json", "{}")
    os.makedirs(os.path.join(directory, "samples"))
    write(directory, "samples/grid.png", "not really a PNG")
    return model, directory


def write(directory, name, text):
    with open(os.path.join(directory, name), "w") as file:
        file.write(text)


def copy_of(directory, tmp_path, name="copy"):
    target = str(tmp_path / name)
    shutil.copytree(directory, target)
    return target


@pytest.mark.parametrize(
    "uri, scheme, handle",
    [
        ("hf://org/name", "hf", "org/name"),
        ("kaggle://me/rin/keras/tiny", "kaggle", "me/rin/keras/tiny"),
    ],
)
def test_round_trip_through_a_hub(saved, hubs, uri, scheme, handle):
    model, directory = saved
    assert keras_rin.upload_preset(uri, directory) == uri
    remote = hubs.folder(scheme, handle)
    # Uploaded as it is: the extra files too.
    for name in ("README.md", "recipe.json", "samples/grid.png"):
        assert os.path.isfile(os.path.join(remote, name)), name
    loaded = keras_rin.RINImageGenerator.from_preset(uri)
    assert_weights_equal(model, loaded)


def test_the_hub_calls_are_keras_hubs(saved, hubs):
    _, directory = saved
    keras_rin.presets.upload_preset("hf://org/name/", directory)
    path = os.path.abspath(directory)
    assert hubs.calls == [
        ("create_repo", "org/name", True),
        ("upload_folder", "org/name", path),
    ]


def remove(name):
    return lambda directory: os.remove(os.path.join(directory, name))


def replace(name, text):
    return lambda directory: write(directory, name, text)


def corrupt_weights(directory):
    with open(os.path.join(directory, "model.weights.h5"), "r+b") as file:
        file.write(b"\0" * 64)


def edit_config(edit):
    """Passes the parsed config.json through `edit`, which changes it in
    place."""

    def damage(directory):
        path = os.path.join(directory, "config.json")
        with open(path) as file:
            config = json.load(file)
        edit(config)
        write(directory, "config.json", json.dumps(config))

    return damage


def fewer_latents(config):
    config["config"]["backbone"]["config"]["num_latents"] = 8


def from_module_os(config):
    config["module"] = "os"


def link_outside(directory):
    os.symlink(os.path.abspath(__file__), os.path.join(directory, "code.py"))


def add_lora_json(directory):
    write(directory, "lora.json", json.dumps(LORA_CONFIG))


@pytest.mark.parametrize(
    "damage, match",
    [
        (remove("config.json"), "neither config.json nor lora.json"),
        (remove("metadata.json"), "metadata.json is missing"),
        (remove("README.md"), "README.md is missing: write a model card"),
        (replace("README.md", " \n"), "README.md, the model card, is empty"),
        (remove("model.weights.h5"), "no model.weights.h5: an arch"),
        (replace("metadata.json", "{bad"), "metadata.json is not valid JSON"),
        (replace("metadata.json", "[1]"), "metadata.json holds a list"),
        (replace("config.json", "{bad"), "config.json is not valid JSON"),
        (corrupt_weights, "model.weights.h5 is corrupt"),
        (edit_config(fewer_latents), "does not match the preset's conf"),
        (edit_config(from_module_os), "comes from module 'os'"),
        (link_outside, "code.py is a symbolic link"),
        (add_lora_json, "both config.json and lora.json"),
    ],
    ids=lambda value: None if callable(value) else value[:24],
)
def test_an_incomplete_preset_is_refused_before_uploading(
    saved, hubs, tmp_path, damage, match
):
    directory = copy_of(saved[1], tmp_path)
    damage(directory)
    for uri in ("hf://org/name", "kaggle://me/rin/keras/tiny"):
        with pytest.raises(ValueError, match=match) as raised:
            keras_rin.upload_preset(uri, directory)
        assert repr(directory) in str(raised.value)
        assert "An uploaded preset is a full preset" in str(raised.value)
        # A loading error's own problem, not its list of built-in presets.
        assert "Built-in presets" not in str(raised.value)
    assert hubs.calls == []


def test_a_missing_directory_and_a_non_path_are_refused(hubs, tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ValueError, match="no such directory"):
        keras_rin.upload_preset("hf://org/name", missing)
    # A built-in name is not a local directory.
    with pytest.raises(ValueError, match="'rin_digits': no such directory"):
        keras_rin.upload_preset("hf://org/name", "rin_digits")
    with pytest.raises(ValueError, match="`preset_dir` must be the path"):
        keras_rin.upload_preset("hf://org/name", 3)
    assert hubs.calls == []


@pytest.mark.parametrize(
    "uri, match",
    [
        (42, "it is of type int, not a string"),
        ("s3://bucket/name", "unknown scheme"),
        ("org/name", "unknown scheme"),
        ("hf://name", "expected hf://<org>/<name>"),
        ("hf://org/name/extra", "expected hf://<org>/<name>"),
        ("kaggle://me/rin/keras", "expected kaggle://"),
        ("kaggle://me/rin/pytorch/tiny", "expected kaggle://"),
        ("kaggle://me/rin/keras/tiny/2", "numbers the versions itself"),
    ],
)
def test_a_bad_uri_is_refused(saved, hubs, uri, match):
    with pytest.raises(ValueError, match=match) as raised:
        keras_rin.upload_preset(uri, saved[1])
    assert f"`uri`={uri!r}" in str(raised.value)
    assert "kaggle://<owner>/<model>/keras/<variation>" in str(raised.value)
    assert hubs.calls == []


@pytest.mark.parametrize(
    "uri, module",
    [
        ("hf://org/name", "huggingface_hub"),
        ("kaggle://a/b/keras/c", "kagglehub"),
    ],
)
def test_a_missing_hub_library_says_what_to_install(
    saved, monkeypatch, uri, module
):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=module) as raised:
        keras_rin.upload_preset(uri, saved[1])
    assert "pip install 'keras-rin[hub]'" in str(raised.value)


def test_hub_errors_propagate_unchanged(saved, monkeypatch):
    failure = PermissionError("401 Client Error: Unauthorized")

    def upload_folder(**kwargs):
        raise failure

    stand_in = types.SimpleNamespace(
        create_repo=lambda **kwargs: None, upload_folder=upload_folder
    )
    monkeypatch.setitem(sys.modules, "huggingface_hub", stand_in)
    with pytest.raises(PermissionError) as raised:
        keras_rin.upload_preset("hf://org/name", saved[1])
    assert raised.value is failure


LORA_CONFIG = {"base_preset": "rin_digits", "rank": 4, "targets": ["q", "v"]}


def lora_preset(tmp_path, **entries):
    directory = tmp_path / "lora"
    directory.mkdir()
    config = {**LORA_CONFIG, **entries}
    (directory / "lora.json").write_text(json.dumps(config))
    with h5py.File(directory / "lora.weights.h5", "w") as file:
        file["lora_a"] = np.zeros((4, 2), "float32")
    (directory / "metadata.json").write_text('{"description": "lora"}')
    (directory / "README.md").write_text("# A LoRA of rin_digits\n")
    return str(directory)


@pytest.mark.parametrize(
    "base", ["rin_digits", "hf://org/base", "kaggle://me/rin/keras/base/3"]
)
def test_a_lora_preset_on_a_shared_base_uploads(hubs, tmp_path, base):
    directory = lora_preset(tmp_path, base_preset=base)
    assert keras_rin.upload_preset("hf://org/lora", directory) == (
        "hf://org/lora"
    )
    remote = hubs.folder("hf", "org/lora")
    assert sorted(os.listdir(remote)) == sorted(os.listdir(directory))


@pytest.mark.parametrize(
    "entries, damage, match",
    [
        (
            {"base_preset": "presets/my_rin"},
            None,
            "names the base preset 'presets/my_rin', which is neither",
        ),
        ({"base_preset": "hf://org"}, None, "Upload the base preset first"),
        ({"rank": "4"}, None, "'rank' must be an integer >= 1"),
        ({"rank": True}, None, "'rank' must be an integer >= 1"),
        ({"targets": "q"}, None, "'targets' must be a list of layer names"),
        ({"base_preset": None}, None, "'base_preset' must be a preset"),
        ({}, "lora.weights.h5", "lora.weights.h5 is missing"),
        ({}, "README.md", "README.md is missing"),
        ({}, "metadata.json", "metadata.json is missing"),
    ],
)
def test_an_incomplete_lora_preset_is_refused_before_uploading(
    hubs, tmp_path, entries, damage, match
):
    directory = lora_preset(tmp_path, **entries)
    if damage:
        os.remove(os.path.join(directory, damage))
    with pytest.raises(ValueError, match=match) as raised:
        keras_rin.upload_preset("hf://org/lora", directory)
    assert repr(directory) in str(raised.value)
    assert hubs.calls == []


def test_lora_weights_that_are_not_hdf5_are_refused(hubs, tmp_path):
    directory = lora_preset(tmp_path)
    write(directory, "lora.weights.h5", "not HDF5")
    with pytest.raises(ValueError, match="lora.weights.h5 is not an HDF5"):
        keras_rin.upload_preset("hf://org/lora", directory)
    assert hubs.calls == []


def test_the_check_alone_makes_no_hub_import(saved, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    directory = preset_upload.check_preset_directory(saved[1])
    assert directory == os.path.abspath(saved[1])
