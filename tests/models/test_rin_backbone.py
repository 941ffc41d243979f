import inspect
import math

import numpy as np
import pytest

import keras_rin
from keras_rin.models.rin_network import RINNetworkConfig
from tests.fixtures import make_reference
from tests.helpers import TINY_CONFIG
from tests.helpers import backbone_inputs
from tests.helpers import run_backbone_test
from tests.helpers import set_self_conditioning_weights
from tests.helpers import tiny_backbone
from tests.helpers import to_numpy


@pytest.mark.parametrize("overrides", [{}, {"num_classes": None}])
def test_backbone_basics(overrides, tmp_path):
    config = {**TINY_CONFIG, "dropout_rate": 0.1, "drop_path_rate": 0.2}
    backbone = run_backbone_test(
        keras_rin.RINBackbone, {**config, **overrides}, tmp_path
    )
    assert backbone.latent_shape == (12, 32)
    assert backbone.num_tokens == 16


def test_learned_latents_leave_room_for_the_time_and_class_tokens():
    assert tiny_backbone().learned_latents.num_latents == 10


def test_unconditional_backbone_has_no_class_token():
    backbone = tiny_backbone(num_classes=None)
    assert "labels" not in backbone.input
    assert backbone.class_embedding is None
    assert backbone.learned_latents.num_latents == 11  # + time token


def test_zero_initialised_self_conditioning_ignores_previous_latents():
    backbone = tiny_backbone()
    inputs = backbone_inputs(backbone)
    zeros = dict(inputs, latents=np.zeros_like(inputs["latents"]))
    with_latents = to_numpy(backbone(inputs))
    without = to_numpy(backbone(zeros))
    np.testing.assert_allclose(
        with_latents["prediction"], without["prediction"], atol=1e-6
    )
    set_self_conditioning_weights(backbone)
    changed = to_numpy(backbone(inputs))
    assert not np.allclose(changed["prediction"], without["prediction"])


def test_every_output_depends_on_noise_level_and_label():
    backbone = tiny_backbone()
    inputs = backbone_inputs(backbone)
    base = to_numpy(backbone(inputs))["prediction"]
    other_gamma = dict(inputs, noise_levels=inputs["noise_levels"] * 0.5)
    other_label = dict(inputs, labels=(inputs["labels"] + 1) % 3)
    assert not np.allclose(to_numpy(backbone(other_gamma))["prediction"], base)
    assert not np.allclose(to_numpy(backbone(other_label))["prediction"], base)


def test_weights_from_another_backend_give_the_same_outputs():
    reference = np.load(make_reference.REFERENCE)
    backbone = tiny_backbone()
    backbone.load_weights(make_reference.WEIGHTS)
    outputs = to_numpy(backbone(make_reference.reference_inputs()))
    for key in ("prediction", "latents"):
        np.testing.assert_allclose(
            outputs[key],
            reference[key],
            atol=1e-4,
            rtol=1e-4,
            err_msg=f"{key} differs from the {reference['backend']} reference",
        )


def test_numpy_integers_are_accepted_and_stored_as_ints():
    config = {
        k: np.int64(v) if isinstance(v, int) else v
        for k, v in TINY_CONFIG.items()
    }
    config["image_shape"] = tuple(np.int32(d) for d in (8, 8, 1))
    backbone = keras_rin.RINBackbone(**config, name="a")
    assert backbone.get_config() == tiny_backbone(name="a").get_config()
    assert all(type(d) is int for d in backbone.image_shape)
    assert type(backbone.num_latents) is int


def test_public_signatures_share_the_network_defaults():
    # The backbones spell out their arguments for users (keras-hub's
    # style); the network's defaults live in RINNetworkConfig.
    defaults = RINNetworkConfig.defaults()
    for cls in (keras_rin.RINBackbone, keras_rin.RINVideoBackbone):
        parameters = inspect.signature(cls.__init__).parameters
        for name, default in defaults.items():
            assert parameters[name].default == default, (cls, name)


def _glorot_limit(fan_in, fan_out):
    return math.sqrt(6 / (fan_in + fan_out))


@pytest.mark.parametrize("cifar10", [False, True])
def test_attention_kernels_start_as_the_official_multi_head_kernels(cifar10):
    # tf.keras.layers.MultiHeadAttention's kernels are 3-D: Glorot-uniform
    # on (dim_in, heads, head_dim) and (heads, head_dim, dim_out) gives the
    # limits below, several times smaller than a 2-D Glorot on the merged
    # heads (official_semantics.md, "Initialisers").
    config = TINY_CONFIG
    if cifar10:
        config = keras_rin.presets.read_backbone_config("rin_cifar10")
        config = {**config, "num_blocks": 1}
    backbone = keras_rin.RINBackbone(**config)
    checked = 0
    for block in backbone.blocks:
        attentions = [block.read_attention, block.write_attention]
        attentions += block.compute_attentions
        for attention in attentions:
            heads, head_dim = attention.num_heads, attention.head_dim
            for dense in (
                attention.query_dense,
                attention.key_dense,
                attention.value_dense,
            ):
                dim_in = dense.kernel.shape[0]
                limit = _glorot_limit(dim_in * heads, dim_in * head_dim)
                _check_uniform(dense.kernel, limit)
                checked += 1
            dim_out = attention.output_dense.kernel.shape[1]
            limit = _glorot_limit(heads * head_dim, heads * dim_out)
            _check_uniform(attention.output_dense.kernel, limit)
            checked += 1
    assert checked == 4 * len(backbone.blocks) * (2 + config["block_depth"])


def _check_uniform(kernel, limit):
    values = to_numpy(kernel)
    assert np.abs(values).max() <= limit
    # A uniform draw on [-limit, limit] has standard deviation limit/sqrt(3).
    np.testing.assert_allclose(values.std(), limit / math.sqrt(3), rtol=0.1)


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
        (dict(num_blocks=True), "`num_blocks` must be a positive integer"),
        (dict(num_latents=12.0), "`num_latents` must be a positive integer"),
        (dict(time_scaling=-1.0), "`time_scaling` must be"),
    ],
)
def test_bad_config_raises(overrides, match):
    with pytest.raises(ValueError, match=match):
        keras_rin.RINBackbone(**{**TINY_CONFIG, **overrides})
