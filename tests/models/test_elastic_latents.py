"""Elastic latents: a backbone run with a prefix of its learned latents."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.conftest import set_self_conditioning_weights
from tests.conftest import tiny_backbone

# tiny_backbone: 12 latents = 10 learned + time + class.
COUNTS = (4, 7, 12)


def _inputs(backbone, batch=3, num_latents=None, seed=0):
    rng = np.random.default_rng(seed)
    num_latents = num_latents or backbone.num_latents
    return {
        "noisy_images": rng.normal(size=(batch,) + backbone.data_shape).astype(
            "float32"
        ),
        "noise_levels": rng.uniform(size=(batch,)).astype("float32"),
        "labels": rng.integers(0, 3, batch).astype("int32"),
        "latents": rng.normal(
            size=(batch, num_latents, backbone.latent_dim)
        ).astype("float32"),
    }


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone()
    set_self_conditioning_weights(backbone)
    return backbone


def _numpy(outputs):
    return {k: ops.convert_to_numpy(v) for k, v in outputs.items()}


def test_all_latents_active_is_the_plain_forward(backbone):
    inputs = _inputs(backbone)
    plain = _numpy(backbone(inputs))
    sliced = _numpy(backbone.elastic_call(inputs, num_active_latents=12))
    mask = backbone.active_latent_mask(np.full((3,), 12))
    masked = _numpy(backbone.elastic_call(inputs, latent_mask=mask))
    for outputs in (sliced, masked):
        for key in ("prediction", "latents"):
            np.testing.assert_allclose(outputs[key], plain[key], atol=1e-5)


@pytest.mark.parametrize("count", COUNTS[:2])
def test_a_smaller_model_with_sliced_weights_equals_the_elastic_pass(
    backbone, count
):
    small = tiny_backbone(num_latents=count)
    learned = count - backbone.num_reserved_latents
    weights = {v.path: v for v in backbone.weights}
    for variable in small.weights:
        value = ops.convert_to_numpy(weights[variable.path])
        if variable.path.endswith("learned_latents/latents"):
            value = value[:learned]
        variable.assign(value)
    inputs = _inputs(backbone, num_latents=count)
    expected = _numpy(small(inputs))
    got = _numpy(backbone.elastic_call(inputs, num_active_latents=count))
    for key in ("prediction", "latents"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)


def test_masked_pass_equals_the_sliced_pass_per_example(backbone):
    counts = np.array([4, 12, 7])
    full = _inputs(backbone)
    mask = backbone.active_latent_mask(counts)
    masked_latents = full["latents"] * ops.convert_to_numpy(mask)[..., None]
    masked = _numpy(
        backbone.elastic_call(
            dict(full, latents=masked_latents), latent_mask=mask
        )
    )
    for i, count in enumerate(counts):
        example = {k: v[i : i + 1] for k, v in full.items()}
        example["latents"] = ops.convert_to_numpy(
            backbone.resize_latents(example["latents"], count)
        )
        sliced = _numpy(
            backbone.elastic_call(example, num_active_latents=count)
        )
        np.testing.assert_allclose(
            masked["prediction"][i], sliced["prediction"][0], atol=1e-5
        )
        active = ops.convert_to_numpy(mask)[i]
        np.testing.assert_allclose(
            masked["latents"][i][active], sliced["latents"][0], atol=1e-5
        )
        assert np.all(masked["latents"][i][~active] == 0)


def test_resize_latents_keeps_reserved_slots_and_zero_fills(backbone):
    latents = np.arange(4 * 32, dtype="float32").reshape(1, 4, 32) + 1
    grown = ops.convert_to_numpy(backbone.resize_latents(latents, 7))
    assert grown.shape == (1, 7, 32)
    np.testing.assert_array_equal(grown[:, :2], latents[:, :2])
    np.testing.assert_array_equal(grown[:, 2:5], 0)
    np.testing.assert_array_equal(grown[:, 5:], latents[:, 2:])  # time, class
    shrunk = ops.convert_to_numpy(backbone.resize_latents(grown, 4))
    np.testing.assert_array_equal(shrunk, latents)


@pytest.mark.parametrize("count", [2, 13, 0, 4.0, True])
def test_invalid_active_latent_counts_raise(backbone, count):
    with pytest.raises(ValueError, match="num_active_latents"):
        backbone.check_num_active_latents(count)


def test_latents_of_the_wrong_count_raise(backbone):
    with pytest.raises(ValueError, match=r"inputs\['latents'\]"):
        backbone.elastic_call(_inputs(backbone), num_active_latents=4)
