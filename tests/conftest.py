import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tests compile many tiny models and run each for a few steps: XLA's
# slow CPU code-generation passes cost more than they save (about a third
# of each compile). Speed is measured in benchmarks/, not here.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_rin  # noqa: E402

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


def tiny_backbone(**overrides):
    """A tiny `RINBackbone`, or a `RINVideoBackbone` when the overrides
    hold a `video_shape`."""
    if "video_shape" in overrides:
        return tiny_video_backbone(**overrides)
    return keras_rin.RINBackbone(**{**TINY_CONFIG, **overrides})


# The same network for 4-frame 8x8 RGB clips in 2x2x2 patches: 32 tokens.
TINY_VIDEO_CONFIG = dict(
    {k: v for k, v in TINY_CONFIG.items() if k != "image_shape"},
    video_shape=(4, 8, 8, 3),
    frames_per_patch=2,
    interface_dim=32,
    num_classes=None,
)


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


def set_self_conditioning_weights(backbone, scale=0.5, seed=0):
    """Makes the zero-initialised self-conditioning LayerNorm non-zero."""
    rng = np.random.default_rng(seed)
    norm = backbone.self_conditioning.output_norm
    for variable in norm.weights:
        variable.assign(rng.normal(0, scale, variable.shape).astype("float32"))


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
        np.zeros(v.shape) if g is None else keras.ops.convert_to_numpy(g)
        for v, g in zip(variables, grads, strict=True)
    ]


@pytest.fixture(autouse=True)
def _reset_dtype_policy():
    yield
    keras.config.set_dtype_policy("float32")
