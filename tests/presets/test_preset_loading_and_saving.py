import json
import os
import sys
import types

import keras
import numpy as np
import pytest

import keras_rin
from keras_rin.presets import preset_loading
from keras_rin.utils import files
from tests.helpers import tiny_backbone


def tiny_generator(**overrides):
    return keras_rin.RINImageGenerator(tiny_backbone(**overrides), seed=1)


def weights_equal(model_a, model_b):
    return all(
        np.array_equal(a, b)
        for a, b in zip(
            model_a.get_weights(), model_b.get_weights(), strict=True
        )
    )


@pytest.fixture
def saved_preset(tmp_path):
    model = tiny_generator()
    directory = os.path.join(tmp_path, "tiny")
    model.save_to_preset(directory, description="a tiny test model")
    return model, directory


def test_save_writes_the_keras_hub_layout(saved_preset):
    model, directory = saved_preset
    assert sorted(os.listdir(directory)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    with open(os.path.join(directory, "metadata.json")) as file:
        metadata = json.load(file)
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["flops"] == keras_rin.utils.count_flops(model)
    assert metadata["keras_version"] == keras.__version__
    assert metadata["keras_rin_version"] == keras_rin.__version__
    assert metadata["class_name"] == "RINImageGenerator"
    assert metadata["description"] == "a tiny test model"
    assert metadata["date"][:2] == "20"


def test_round_trip_restores_config_and_weights(saved_preset):
    model, directory = saved_preset
    loaded = keras_rin.RINImageGenerator.from_preset(directory)
    assert loaded.get_config() == model.get_config()
    assert weights_equal(loaded, model)
    kwargs = dict(labels=[0, 2], num_steps=3, seed=5, verbose=0)
    np.testing.assert_allclose(
        loaded.generate(**kwargs), model.generate(**kwargs), atol=1e-6
    )


def test_without_weights_gives_a_fresh_model(saved_preset):
    model, directory = saved_preset
    model.backbone.readout.dense.kernel.assign(
        np.ones(model.backbone.readout.dense.kernel.shape)
    )
    model.save_to_preset(directory)
    fresh = keras_rin.RINImageGenerator.from_preset(
        directory, load_weights=False
    )
    assert fresh.get_config() == model.get_config()
    assert not weights_equal(fresh, model)
    # An architecture-only preset (no weights file) loads the same way.
    os.remove(os.path.join(directory, "model.weights.h5"))
    fresh = keras_rin.RINImageGenerator.from_preset(directory)
    assert fresh.count_params() == model.count_params()


def test_overrides_replace_config_entries(saved_preset):
    _, directory = saved_preset
    model = keras_rin.RINImageGenerator.from_preset(
        directory, sampling_schedule="linear", seed=7
    )
    assert model.seed == 7
    assert type(model.sampling_schedule).__name__ == "LinearSchedule"


def test_unknown_name_lists_the_presets():
    with pytest.raises(ValueError) as error:
        keras_rin.RINImageGenerator.from_preset("rin_nonexistent")
    message = str(error.value)
    assert "'rin_nonexistent'" in message
    assert "rin_cifar10" in message and "rin_imagenet_256" in message
    assert "hf://" in message


@pytest.mark.parametrize("handle", [None, 3, ["rin_cifar10"]])
def test_a_handle_that_is_not_a_string_is_rejected(handle):
    with pytest.raises(ValueError, match="must be a string"):
        keras_rin.RINImageGenerator.from_preset(handle)


def test_missing_or_broken_config(saved_preset):
    _, directory = saved_preset
    config = os.path.join(directory, "config.json")
    with open(config, "w") as file:
        file.write("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        keras_rin.RINImageGenerator.from_preset(directory)
    os.remove(config)
    with pytest.raises(ValueError, match="config.json is missing"):
        keras_rin.RINImageGenerator.from_preset(directory)


def test_corrupt_weights_file(saved_preset):
    _, directory = saved_preset
    weights = os.path.join(directory, "model.weights.h5")
    with open(weights, "r+b") as file:
        file.truncate(1000)
    with pytest.raises(ValueError) as error:
        keras_rin.RINImageGenerator.from_preset(directory)
    assert "corrupt" in str(error.value)
    assert directory in str(error.value)
    assert "rin_cifar10" in str(error.value)


def test_weights_of_another_architecture(saved_preset, tmp_path):
    _, directory = saved_preset
    other = os.path.join(tmp_path, "other")
    tiny_generator(latent_dim=48).save_to_preset(other)
    os.replace(
        os.path.join(other, "model.weights.h5"),
        os.path.join(directory, "model.weights.h5"),
    )
    with pytest.raises(ValueError, match="does not match"):
        keras_rin.RINImageGenerator.from_preset(directory)


def test_interrupted_save_leaves_the_old_preset(saved_preset, monkeypatch):
    model, directory = saved_preset
    parent = os.path.dirname(directory)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    new_model = tiny_generator()
    monkeypatch.setattr(new_model, "save_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        new_model.save_to_preset(directory)
    assert os.listdir(parent) == ["tiny"]  # no partial directory left
    assert weights_equal(
        keras_rin.RINImageGenerator.from_preset(directory), model
    )
    with pytest.raises(KeyboardInterrupt):
        new_model.save_to_preset(os.path.join(parent, "new"))
    assert os.listdir(parent) == ["tiny"]


def test_resaving_keeps_other_files(saved_preset):
    model, directory = saved_preset
    card = os.path.join(directory, "README.md")
    with open(card, "w") as file:
        file.write("# model card\n")
    model.save_to_preset(directory)
    assert os.path.isfile(card)
    with open(os.path.join(directory, "metadata.json")) as file:
        assert json.load(file)["description"] == "a tiny test model"


def test_refuses_to_save_over_a_directory_that_is_not_a_preset(tmp_path):
    with open(os.path.join(tmp_path, "notes.txt"), "w") as file:
        file.write("mine")
    with pytest.raises(ValueError, match="not a preset"):
        tiny_generator().save_to_preset(str(tmp_path))
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_huggingface_handle(saved_preset, monkeypatch):
    _, directory = saved_preset
    calls = []

    def snapshot_download(repo_id):
        calls.append(repo_id)
        return directory

    fake = types.SimpleNamespace(snapshot_download=snapshot_download)
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    model = keras_rin.RINImageGenerator.from_preset("hf://keras-rin/tiny")
    assert calls == ["keras-rin/tiny"]
    assert model.backbone.latent_dim == 32
    with pytest.raises(ValueError, match="hf://<org>/<name>"):
        keras_rin.RINImageGenerator.from_preset("hf://just-a-name")


def test_kaggle_handle(saved_preset, monkeypatch):
    _, directory = saved_preset
    calls = []

    def model_download(handle):
        calls.append(handle)
        return directory

    fake = types.SimpleNamespace(model_download=model_download)
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    keras_rin.RINImageGenerator.from_preset("kaggle://me/rin/keras/tiny")
    assert calls == ["me/rin/keras/tiny"]


def test_missing_hub_library_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match="pip install"):
        keras_rin.RINImageGenerator.from_preset("hf://keras-rin/tiny")


def test_a_preset_of_another_class_is_rejected(saved_preset):
    _, directory = saved_preset
    path = os.path.join(directory, "config.json")
    with open(path) as file:
        config = json.load(file)
    config["class_name"] = "RINVideoPredictor"
    with open(path, "w") as file:
        json.dump(config, file)
    with pytest.raises(ValueError, match="not a RINImageGenerator"):
        keras_rin.RINImageGenerator.from_preset(directory)


def test_resolve_handle_prefers_built_in_names():
    directory = preset_loading.resolve_handle("rin_cifar10")
    assert os.path.isfile(os.path.join(directory, "config.json"))


def test_a_compiled_model_saves_without_its_optimizer(tmp_path):
    model = tiny_generator()
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, use_ema=True))
    images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1))
    model.fit(images, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    directory = os.path.join(tmp_path, "trained")
    model.save_to_preset(directory)
    loaded = keras_rin.RINImageGenerator.from_preset(directory)
    assert weights_equal(loaded, model)
    assert getattr(loaded, "optimizer", None) is None


def test_a_saved_preset_has_ordinary_permissions(saved_preset):
    _, directory = saved_preset
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(directory).st_mode & 0o777 == 0o777 & ~mask


def test_from_preset_dtype_sets_the_backbone_policy_too():
    model = keras_rin.RINImageGenerator.from_preset(
        "rin_digits", dtype="mixed_bfloat16"
    )
    assert model.backbone.blocks[0].compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)
    plain = keras_rin.RINImageGenerator.from_preset("rin_digits")
    assert plain.backbone.blocks[0].compute_dtype == "float32"


def test_from_preset_rematerialize_blocks_goes_to_the_backbone():
    model = keras_rin.RINImageGenerator.from_preset(
        "rin_digits", rematerialize_blocks=True
    )
    assert model.backbone.rematerialize_blocks is True
    assert all(block.rematerialize for block in model.backbone.blocks)
    assert "rematerialize_blocks" not in model.get_config()
    with pytest.raises(ValueError, match="`rematerialize_blocks`"):
        keras_rin.RINImageGenerator.from_preset(
            "rin_digits", rematerialize_blocks="yes"
        )


def test_read_backbone_config_without_building():
    config = keras_rin.presets.read_backbone_config("rin_cifar10")
    assert config["image_shape"] == [32, 32, 3]
    assert config["latent_dim"] == 512
    with pytest.raises(ValueError, match="no_such_preset"):
        keras_rin.presets.read_backbone_config("no_such_preset")


def test_a_preset_dir_that_is_not_a_path_is_rejected():
    with pytest.raises(ValueError, match="`preset_dir` must be a path") as e:
        tiny_generator().save_to_preset(123)
    assert "Received: preset_dir=123" in str(e.value)


def test_resaving_does_not_follow_symbolic_links(saved_preset, tmp_path):
    model, directory = saved_preset
    secret = tmp_path / "secret.txt"
    secret.write_text("not for upload")
    os.symlink(secret, os.path.join(directory, "README.md"))
    os.makedirs(os.path.join(directory, "samples"))
    os.symlink(secret, os.path.join(directory, "samples", "grid.png"))
    with pytest.warns(UserWarning, match="symbolic link"):
        model.save_to_preset(directory)
    assert sorted(os.listdir(directory)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "samples",
    ]
    assert os.listdir(os.path.join(directory, "samples")) == []


def test_a_full_disk_raises_and_keeps_the_old_preset(saved_preset, monkeypatch):
    model, directory = saved_preset
    usage = types.SimpleNamespace(total=10**9, used=10**9, free=1000)
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage)
    with pytest.raises(OSError, match="Not enough free disk space") as error:
        tiny_generator(latent_dim=48).save_to_preset(directory)
    assert directory in str(error.value)
    assert os.listdir(os.path.dirname(directory)) == ["tiny"]
    assert weights_equal(
        keras_rin.RINImageGenerator.from_preset(directory), model
    )


def test_a_failed_weights_write_is_an_os_error(saved_preset, monkeypatch):
    model, directory = saved_preset
    new_model = tiny_generator()

    def fail(path):
        raise RuntimeError("Can't decrement id ref count (errno = 28)")

    monkeypatch.setattr(new_model, "save_weights", fail)
    with pytest.raises(OSError, match="Could not write the weights file"):
        new_model.save_to_preset(directory)
    assert os.listdir(os.path.dirname(directory)) == ["tiny"]
    assert weights_equal(
        keras_rin.RINImageGenerator.from_preset(directory), model
    )


def test_loading_recovers_a_swap_cut_between_its_renames(saved_preset):
    model, directory = saved_preset
    parent = os.path.dirname(directory)
    # What a save killed between its two renames leaves: the old preset
    # renamed aside, the new one complete in its staging directory, both
    # owned by a process that no longer runs.
    staging = os.path.join(parent, ".tiny.partial-otherhost-1-abc")
    os.rename(directory, staging + ".old")
    os.makedirs(staging)
    old = os.path.getmtime(staging) - 2 * 86400
    for path in (staging, staging + ".old"):
        os.utime(path, (old, old))
        for name in os.listdir(path):
            os.utime(os.path.join(path, name), (old, old))
    loaded = keras_rin.RINImageGenerator.from_preset(directory)
    assert weights_equal(loaded, model)
    assert os.listdir(parent) == ["tiny"]


def test_a_live_saves_staging_directory_is_kept(saved_preset):
    model, directory = saved_preset
    parent = os.path.dirname(directory)
    live = files.make_staging_directory(directory)
    model.save_to_preset(directory)
    assert sorted(os.listdir(parent)) == sorted(
        ["tiny", os.path.basename(live)]
    )
