import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_rin
from tests.conftest import TINY_CONFIG
from tests.conftest import set_self_conditioning_weights
from tests.conftest import tiny_backbone
from tests.fixtures import make_reference


def _inputs(batch=2, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {
        "noisy_images": rng.normal(size=(batch, 8, 8, 1)).astype("float32"),
        "noise_levels": rng.uniform(size=(batch,)).astype("float32"),
        "latents": rng.normal(size=(batch, 12, 32)).astype("float32"),
    }
    if num_classes:
        inputs["labels"] = rng.integers(0, num_classes, batch).astype("int32")
    return inputs


def _numpy(outputs):
    return {k: ops.convert_to_numpy(v) for k, v in outputs.items()}


def test_output_shapes_and_dtypes():
    backbone = tiny_backbone()
    outputs = backbone(_inputs())
    assert tuple(outputs["prediction"].shape) == (2, 8, 8, 1)
    assert tuple(outputs["latents"].shape) == (2, 12, 32)
    assert backbone.latent_shape == (12, 32)
    assert backbone.learned_latents.num_latents == 10  # + time + class


def test_unconditional_backbone_has_no_class_token():
    backbone = tiny_backbone(num_classes=None)
    assert "labels" not in backbone.input
    assert backbone.class_embedding is None
    assert backbone.learned_latents.num_latents == 11  # + time token
    outputs = backbone(_inputs(num_classes=None))
    assert tuple(outputs["prediction"].shape) == (2, 8, 8, 1)


def test_zero_initialised_self_conditioning_ignores_previous_latents():
    backbone = tiny_backbone()
    inputs = _inputs()
    zeros = dict(inputs, latents=np.zeros_like(inputs["latents"]))
    with_latents = _numpy(backbone(inputs))
    without = _numpy(backbone(zeros))
    np.testing.assert_allclose(
        with_latents["prediction"], without["prediction"], atol=1e-6
    )
    set_self_conditioning_weights(backbone)
    changed = _numpy(backbone(inputs))
    assert not np.allclose(changed["prediction"], without["prediction"])


def test_every_output_depends_on_noise_level_and_label():
    backbone = tiny_backbone()
    inputs = _inputs()
    base = _numpy(backbone(inputs))["prediction"]
    other_gamma = dict(inputs, noise_levels=inputs["noise_levels"] * 0.5)
    other_label = dict(inputs, labels=(inputs["labels"] + 1) % 3)
    assert not np.allclose(_numpy(backbone(other_gamma))["prediction"], base)
    assert not np.allclose(_numpy(backbone(other_label))["prediction"], base)


def test_weights_from_another_backend_give_the_same_outputs():
    reference = np.load(make_reference.REFERENCE)
    backbone = tiny_backbone()
    backbone.load_weights(make_reference.WEIGHTS)
    outputs = _numpy(backbone(make_reference.reference_inputs()))
    for key in ("prediction", "latents"):
        np.testing.assert_allclose(
            outputs[key],
            reference[key],
            atol=1e-4,
            rtol=1e-4,
            err_msg=f"{key} differs from the {reference['backend']} reference",
        )


def test_save_and_load_round_trip(tmp_path):
    backbone = tiny_backbone(dropout_rate=0.1, drop_path_rate=0.2)
    set_self_conditioning_weights(backbone)
    inputs = _inputs()
    expected = _numpy(backbone(inputs))
    path = os.path.join(tmp_path, "backbone.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, keras_rin.RINBackbone)
    assert restored.get_config() == backbone.get_config()
    np.testing.assert_allclose(
        _numpy(restored(inputs))["prediction"],
        expected["prediction"],
        atol=1e-6,
    )
    weights_path = os.path.join(tmp_path, "backbone.weights.h5")
    backbone.save_weights(weights_path)
    fresh = tiny_backbone(dropout_rate=0.1, drop_path_rate=0.2)
    fresh.load_weights(weights_path)
    np.testing.assert_allclose(
        _numpy(fresh(inputs))["prediction"], expected["prediction"], atol=1e-6
    )


def test_config_round_trip():
    backbone = tiny_backbone(drop_path_rate=0.1)
    config = backbone.get_config()
    restored = keras_rin.RINBackbone.from_config(config)
    assert restored.get_config() == config
    assert restored.count_params() == backbone.count_params()


def test_mixed_precision_keeps_sensitive_parts_in_float32():
    backbone = tiny_backbone(dtype="mixed_bfloat16")
    outputs = backbone(_inputs())
    assert keras.backend.standardize_dtype(outputs["prediction"].dtype) == (
        "float32"
    )
    assert backbone.noise_level_embedding.compute_dtype == "float32"
    assert backbone.class_embedding.compute_dtype == "float32"
    assert backbone.readout.compute_dtype == "float32"
    assert backbone.blocks[0].compute_dtype == "bfloat16"
    assert np.all(np.isfinite(_numpy(outputs)["prediction"]))


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(image_shape=(9, 8, 1)), "height must be divisible"),
        (dict(image_shape=(8, 8)), "`image_shape` must be"),
        (dict(patch_size=0), "`patch_size` must be a positive integer"),
        (dict(dropout_rate=-0.1), r"`dropout_rate` must be a number in"),
        (dict(drop_path_rate=1.5), r"`drop_path_rate` must be a number in"),
        (dict(latent_num_heads=5), "divisible by `latent_num_heads`"),
        (dict(rw_num_heads=3), "divisible by `rw_num_heads`"),
        (dict(num_latents=2), "`num_latents` must be > 2"),
        (dict(num_classes=0), "`num_classes` must be a positive integer"),
        (dict(time_scaling=-1.0), "`time_scaling` must be"),
    ],
)
def test_bad_config_raises(overrides, match):
    with pytest.raises(ValueError, match=match):
        keras_rin.RINBackbone(**{**TINY_CONFIG, **overrides})
