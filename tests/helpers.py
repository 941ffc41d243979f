"""Shared test helpers: tiny configurations, inputs, and the model checks
that every model test runs (after keras-hub's `run_backbone_test` and
`run_task_test`)."""

import json
import os

import keras
import numpy as np
from keras import ops

import keras_rin

TINY_CONFIG = dict(
    image_shape=(8, 8, 1),
    patch_size=2,
    num_latents=12,
    latent_dim=32,
    interface_dim=16,
    num_blocks=2,
    block_depth=1,
    latent_num_heads=4,
    rw_num_heads=2,
    latent_mlp_ratio=2,
    interface_mlp_ratio=2,
    num_classes=3,
)

# The same network for 4-frame 8x8 RGB clips in 2x2x2 patches: 32 tokens.
TINY_VIDEO_CONFIG = dict(
    {k: v for k, v in TINY_CONFIG.items() if k != "image_shape"},
    video_shape=(4, 8, 8, 3),
    frames_per_patch=2,
    interface_dim=32,
    num_classes=None,
)


def tiny_backbone(**overrides):
    """A tiny `RINBackbone`, or a `RINVideoBackbone` when the overrides
    hold a `video_shape`."""
    if "video_shape" in overrides:
        return tiny_video_backbone(**overrides)
    return keras_rin.RINBackbone(**{**TINY_CONFIG, **overrides})


def tiny_video_backbone(**overrides):
    return keras_rin.RINVideoBackbone(**{**TINY_VIDEO_CONFIG, **overrides})


def toy_images(num_images=48, seed=0):
    """Images whose brightness tells the class (class c is about
    0.1 + 0.4 c, with a little texture), in [0, 1], and their labels."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(num_images) % 3).astype("int32")
    texture = rng.uniform(0, 0.1, (num_images, 8, 8, 1))
    images = 0.1 + 0.4 * labels[:, None, None, None] + texture
    return np.clip(images, 0, 1).astype("float32"), labels


def toy_clips(num_clips=32, seed=0):
    """4-frame 8x8 RGB clips of a bright square moving, in [0, 1]."""
    clips = keras_rin.data.make_bouncing_shapes(
        num_clips, num_frames=4, image_size=8, num_shapes=1, seed=seed
    )
    return clips.astype("float32") / 255.0


def to_numpy(values):
    """A tensor, or a dict of tensors, as NumPy."""
    if isinstance(values, dict):
        return {k: ops.convert_to_numpy(v) for k, v in values.items()}
    return ops.convert_to_numpy(values)


def backbone_inputs(backbone, batch=2, seed=0, num_latents=None):
    """Random inputs for any backbone: noisy data, noise levels, labels
    (for a conditional backbone) and non-zero previous latents (with
    `num_latents` slots, all by default)."""
    rng = np.random.default_rng(seed)
    num_latents = num_latents or backbone.num_latents
    inputs = {
        backbone.data_input_name: rng.normal(
            size=(batch,) + tuple(backbone.data_shape)
        ).astype("float32"),
        "noise_levels": rng.uniform(size=(batch,)).astype("float32"),
        "latents": rng.normal(
            size=(batch, num_latents, backbone.latent_dim)
        ).astype("float32"),
    }
    if backbone.num_classes:
        inputs["labels"] = rng.integers(0, backbone.num_classes, batch).astype(
            "int32"
        )
    return inputs


def randomize(layer, scale=0.3, seed=0):
    """Sets every weight of `layer` to normal noise of std `scale`."""
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(
            rng.normal(0, scale, variable.shape).astype(variable.dtype)
        )


def set_self_conditioning_weights(backbone, scale=0.5, seed=0):
    """Makes the zero-initialised self-conditioning LayerNorm non-zero, so
    that previous latents change the outputs."""
    randomize(backbone.self_conditioning.output_norm, scale, seed)


def gradients(loss_fn, variables):
    """Gradients of `loss_fn()` with respect to `variables`, per backend
    (tests only: the library itself never differentiates by hand)."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        def stateless(values):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                return loss_fn()

        grads = jax.grad(stateless)([v.value for v in variables])
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, [v.value for v in variables])
    else:
        import torch

        loss = loss_fn()
        grads = torch.autograd.grad(
            loss, [v.value for v in variables], allow_unused=True
        )
    return [
        np.zeros(v.shape) if g is None else ops.convert_to_numpy(g)
        for v, g in zip(variables, grads, strict=True)
    ]


def assert_weights_equal(model, other):
    for a, b in zip(model.weights, other.weights, strict=True):
        np.testing.assert_array_equal(
            ops.convert_to_numpy(a), ops.convert_to_numpy(b), err_msg=a.path
        )


# ----------------------------------------------------------------------
# The shared model checks
# ----------------------------------------------------------------------


def run_backbone_test(cls, init_kwargs, tmp_path):
    """Checks a backbone class on `init_kwargs`: output shapes and dtypes,
    the config round trip (JSON included), `.keras` and weights save/load,
    and mixed precision with the sensitive parts in float32.

    Returns the backbone (with non-zero self-conditioning weights).
    """
    backbone = cls(**init_kwargs)
    set_self_conditioning_weights(backbone)
    inputs = backbone_inputs(backbone)
    expected = to_numpy(backbone(inputs))
    batch = len(inputs["noise_levels"])
    assert expected["prediction"].shape == (batch,) + backbone.data_shape
    assert expected["prediction"].dtype == np.float32
    assert expected["latents"].shape == (batch,) + backbone.latent_shape

    config = backbone.get_config()
    json.dumps(config)  # JSON-serialisable as it is
    clone = cls.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    assert clone.count_params() == backbone.count_params()

    path = os.path.join(tmp_path, "backbone.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is cls
    assert restored.get_config() == config
    for got in (to_numpy(restored(inputs)), _reloaded(backbone, tmp_path)):
        for key in ("prediction", "latents"):
            np.testing.assert_allclose(got[key], expected[key], atol=1e-6)

    mixed = cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
    outputs = to_numpy(mixed(inputs))
    assert outputs["prediction"].dtype == np.float32
    assert np.all(np.isfinite(outputs["prediction"]))
    for layer in (mixed.noise_level_embedding, mixed.readout):
        assert layer.compute_dtype == "float32", layer.name
    if mixed.class_embedding is not None:
        assert mixed.class_embedding.compute_dtype == "float32"
    assert mixed.blocks[0].compute_dtype == "bfloat16"
    return backbone


def _reloaded(backbone, tmp_path):
    """The outputs of a fresh backbone of the same config that loaded the
    backbone's weights file."""
    path = os.path.join(tmp_path, "backbone.weights.h5")
    backbone.save_weights(path)
    fresh = type(backbone).from_config(backbone.get_config())
    fresh.load_weights(path)
    return to_numpy(fresh(backbone_inputs(backbone)))


def run_diffusion_model_test(model, data, generate_kwargs, tmp_path):
    """Checks a (trained or fresh) diffusion model: the config round trip,
    seeded `generate` (equal seeds equal, other seeds differ), `.keras`
    save/load (config and weights) and preset save/load giving the same
    samples, and a fit step and
    sampling under mixed precision (the preset loaded with
    `dtype="mixed_bfloat16"`).

    Args:
        model: a compiled `RINDiffusionModel`.
        data: what `fit` takes for one small batch, as a tuple of
            positional arguments (e.g. `(images, labels)`).
        generate_kwargs: the arguments of a short `generate` call, without
            `seed` and `verbose`.
        tmp_path: a directory for the saved files.
    """
    cls = type(model)

    def sample(target, seed=0):
        return target.generate(seed=seed, verbose=0, **generate_kwargs)

    config = model.get_config()
    json.dumps(config)
    assert cls.from_config(json.loads(json.dumps(config))).get_config() == (
        config
    )

    expected = sample(model)
    assert expected.dtype == np.float32
    assert expected.min() >= 0.0 and expected.max() <= 1.0
    np.testing.assert_array_equal(sample(model), expected)
    assert np.abs(sample(model, seed=1) - expected).max() > 1e-3

    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is cls and restored.get_config() == config
    assert_weights_equal(restored, model)

    preset = os.path.join(tmp_path, "preset")
    model.save_to_preset(preset, description="a test model")
    loaded = cls.from_preset(preset)
    assert loaded.get_config() == config
    assert_weights_equal(loaded, model)
    np.testing.assert_allclose(sample(loaded), expected, atol=1e-5)

    mixed = cls.from_preset(preset, dtype="mixed_bfloat16")
    assert mixed.backbone.blocks[0].compute_dtype == "bfloat16"
    mixed.compile(optimizer="adam")
    history = mixed.fit(*data, epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    samples = sample(mixed)
    assert samples.dtype == np.float32 and np.all(np.isfinite(samples))
