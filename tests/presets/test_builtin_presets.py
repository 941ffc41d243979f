import json
import os

import pytest

import keras_rin
from keras_rin.presets import registry

PAPER_PRESETS = [
    "rin_cifar10",
    "rin_imagenet_64",
    "rin_imagenet_128",
    "rin_imagenet_256",
    "rin_imagenet_512",
    "rin_imagenet_1024",
]
PRESETS = keras_rin.RINImageGenerator.presets


def test_the_zoo_has_the_paper_presets_in_order():
    names = list(PRESETS)
    assert [n for n in names if n in PAPER_PRESETS] == PAPER_PRESETS


@pytest.mark.parametrize("name", list(PRESETS))
def test_metadata_and_model_card_agree_with_the_config(name):
    directory = PRESETS[name]["path"]
    with open(os.path.join(directory, registry.CONFIG_FILE)) as file:
        backbone = json.load(file)["config"]["backbone"]["config"]
    metadata = PRESETS[name]
    assert metadata["parameter_count"] == keras_rin.utils.count_params(backbone)
    assert metadata["flops"] == keras_rin.utils.count_flops(backbone)
    assert metadata["description"]
    with open(os.path.join(directory, "README.md")) as file:
        card = file.read()
    assert f"{metadata['parameter_count']:,}" in card
    assert f"{metadata['flops'] / 1e9:.2f}" in card
    assert "Known differences from the paper" in card


@pytest.mark.parametrize("name", ["rin_cifar10", "rin_imagenet_64"])
def test_paper_presets_build_randomly_initialised(name):
    model = keras_rin.RINImageGenerator.from_preset(name)
    assert not PRESETS[name]["has_weights"]
    assert model.count_params() == PRESETS[name]["parameter_count"]
    assert model.prediction_target == "eps"
    assert model.self_conditioning_rate == 0.9


def test_cifar10_preset_is_the_official_model():
    model = keras_rin.RINImageGenerator.from_preset("rin_cifar10")
    assert model.count_params() == 30_951_180
    assert keras_rin.utils.count_flops(model) / 1e9 == pytest.approx(
        8.59, rel=2e-3
    )
    assert model.backbone.dropout_rate == 0.1
    assert model.backbone.interface_mlp_ratio == 2
