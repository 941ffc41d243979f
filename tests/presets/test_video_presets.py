import json
import os

import keras
import pytest

import keras_rin
from keras_rin.presets import registry

VIDEO_PRESETS = keras_rin.RINVideoPredictor.presets


def _config(name):
    path = os.path.join(VIDEO_PRESETS[name]["path"], registry.CONFIG_FILE)
    with open(path) as file:
        return json.load(file)


def test_video_presets_are_listed_apart_from_image_presets():
    assert "rin_kinetics600" in VIDEO_PRESETS
    assert "rin_kinetics600" not in keras_rin.RINImageGenerator.presets
    assert "rin_kinetics600" in keras_rin.presets.list_presets()


def test_kinetics600_is_the_paper_configuration():
    config = _config("rin_kinetics600")["config"]
    backbone = config["backbone"]["config"]
    assert backbone["video_shape"] == [16, 64, 64, 3]
    assert (backbone["frames_per_patch"], backbone["patch_size"]) == (2, 4)
    assert (backbone["num_blocks"], backbone["block_depth"]) == (6, 4)
    assert (backbone["num_latents"], backbone["latent_dim"]) == (256, 1024)
    assert backbone["interface_dim"] == 512
    assert config["num_context_frames"] == 5
    assert config["self_conditioning_rate"] == 0.85
    tokens, _ = keras_rin.utils.flops.interface_size(backbone)
    assert tokens == 2048


def test_kinetics600_metadata_and_card_agree_with_the_config():
    metadata = VIDEO_PRESETS["rin_kinetics600"]
    backbone = _config("rin_kinetics600")["config"]["backbone"]["config"]
    assert metadata["parameter_count"] == keras_rin.utils.count_params(backbone)
    assert metadata["flops"] == keras_rin.utils.count_flops(backbone)
    assert not metadata["has_weights"]
    with open(os.path.join(metadata["path"], "README.md")) as file:
        card = file.read()
    assert f"{metadata['parameter_count']:,}" in card
    assert f"{metadata['flops'] / 1e9:.2f}" in card
    assert "Known differences from the paper" in card


def test_kinetics600_config_deserialises_into_a_video_predictor():
    # The full model has 395 M parameters; the same config at a tiny width
    # checks that every entry is understood.
    config = _config("rin_kinetics600")
    backbone = config["config"]["backbone"]["config"]
    backbone.update(
        video_shape=[8, 8, 8, 3],
        num_latents=8,
        latent_dim=16,
        interface_dim=96,
        num_blocks=1,
        block_depth=1,
        latent_num_heads=2,
        rw_num_heads=2,
    )
    model = keras.saving.deserialize_keras_object(config)
    assert isinstance(model, keras_rin.RINVideoPredictor)
    assert model.num_context_frames == 5
    assert model.target_shape == (3, 8, 8, 3)


@pytest.mark.parametrize("name", list(VIDEO_PRESETS))
def test_every_video_preset_has_a_model_card(name):
    assert os.path.isfile(
        os.path.join(VIDEO_PRESETS[name]["path"], "README.md")
    )


def test_bouncing_shapes_preset_is_the_example_recipe():
    import importlib.util

    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "examples", "bouncing_shapes.py"
    )
    spec = importlib.util.spec_from_file_location("bouncing_shapes", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    config = _config("rin_bouncing_shapes")["config"]
    backbone = config["backbone"]["config"]
    for key, value in example.BACKBONE.items():
        expected = list(value) if isinstance(value, tuple) else value
        assert backbone[key] == expected, key
    for key, value in example.PREDICTOR.items():
        if key.endswith("schedule"):
            assert config[key]["name"] == value, key
        else:
            assert config[key] == value, key
    metadata = VIDEO_PRESETS["rin_bouncing_shapes"]
    assert metadata["parameter_count"] == keras_rin.utils.count_params(backbone)
