"""How a training step's cost grows with the number of interface tokens:
RIN against a plain ViT denoiser of similar size.

    KERAS_BACKEND=torch python benchmarks/scaling.py

64x64 images cut into patches of 4, 2 and 1 pixels give 256, 1024 and 4096
tokens. RIN keeps its 64 latents: its read and write cost grows linearly
with the tokens, its latent computation not at all. The ViT runs
self-attention over all tokens, which grows quadratically. Both are trained
with the same `fit` step (mean squared error on the noise, no
self-conditioning, so a step is 3 forward passes), and both FLOPs counts
are printed beside the measured times. Prints one JSON line.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np
from keras import ops

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchmark_utils  # noqa: E402

import keras_rin  # noqa: E402

IMAGE_SHAPE = (64, 64, 3)
PATCH_SIZES = (4, 2, 1)
# About 4.6 M parameters each.
RIN_CONFIG = dict(
    num_latents=64,
    latent_dim=256,
    interface_dim=128,
    num_blocks=2,
    block_depth=2,
    latent_num_heads=4,
    rw_num_heads=4,
)
VIT_CONFIG = dict(dim=256, depth=6, num_heads=4, mlp_ratio=4)


class RINDenoiser(keras.Model):
    """A RIN backbone as a plain denoiser: zero previous latents, the
    prediction only."""

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone

    def call(self, inputs):
        images = inputs["noisy_images"]
        latents = ops.zeros(
            (ops.shape(images)[0],) + self.backbone.latent_shape
        )
        outputs = self.backbone(
            {
                "noisy_images": images,
                "noise_levels": inputs["noise_levels"],
                "latents": latents,
            }
        )
        return outputs["prediction"]


def vit_denoiser(patch_size, dim, depth, num_heads, mlp_ratio):
    """A pre-LN ViT over all patches plus one noise-level token, built from
    RIN's own attention (fused `dot_product_attention`) and MLP layers, so
    that the two models differ only in what attends to what."""
    height, width, channels = IMAGE_SHAPE
    grid = (height // patch_size, width // patch_size)
    images = keras.Input(IMAGE_SHAPE, name="noisy_images")
    gammas = keras.Input((), name="noise_levels")
    tokens = keras.layers.Conv2D(dim, patch_size, strides=patch_size)(images)
    tokens = keras.layers.Reshape((grid[0] * grid[1], dim))(tokens)
    positions = keras_rin.layers.LearnedLatents(grid[0] * grid[1], dim)
    tokens = tokens + positions(tokens)
    time_token = keras_rin.layers.NoiseLevelEmbedding(dim)(gammas)
    x = keras.layers.Concatenate(axis=1)([time_token[:, None], tokens])
    for _ in range(depth):
        x = x + keras_rin.layers.RINAttention(num_heads, dim)(x)
        x = x + keras_rin.layers.RINMLP(mlp_ratio)(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x[:, 1:])
    x = keras.layers.Dense(patch_size * patch_size * channels)(x)
    x = keras.layers.Reshape(grid + (patch_size**2 * channels,))(x)
    prediction = x
    if patch_size > 1:
        prediction = ops.depth_to_space(x, patch_size)
    inputs = {"noisy_images": images, "noise_levels": gammas}
    return keras.Model(inputs, prediction)


def vit_flops(patch_size, dim, depth, num_heads, mlp_ratio):
    """Forward FLOPs of one image (matrix products, multiply-add = 2)."""
    height, width, channels = IMAGE_SHAPE
    values = patch_size * patch_size * channels
    n = (height // patch_size) * (width // patch_size)
    tokens = n + 1
    layer = 4 * tokens * dim * dim  # Q, K, V and output projections
    layer += 2 * tokens * tokens * dim  # QK^T and AV
    layer += 2 * tokens * dim * dim * mlp_ratio
    time_embedding = dim // 4 * dim + dim * dim
    return 2 * (depth * layer + 2 * n * values * dim + time_embedding)


def build(model_name, patch_size):
    keras.utils.set_random_seed(0)
    if model_name == "rin":
        backbone = keras_rin.RINBackbone(
            image_shape=IMAGE_SHAPE, patch_size=patch_size, **RIN_CONFIG
        )
        model = RINDenoiser(backbone)
        return model, keras_rin.utils.count_flops(backbone)
    model = vit_denoiser(patch_size, **VIT_CONFIG)
    return model, vit_flops(patch_size, **VIT_CONFIG)


def time_training(model, batch_size, steps):
    """Seconds per steady `fit` step (after one step that compiles)."""
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss="mse")
    rng = np.random.default_rng(0)
    count = batch_size * steps
    inputs = {
        "noisy_images": rng.normal(size=(count,) + IMAGE_SHAPE).astype(
            "float32"
        ),
        "noise_levels": rng.uniform(size=(count,)).astype("float32"),
    }
    targets = rng.normal(size=(count,) + IMAGE_SHAPE).astype("float32")
    fit = dict(batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    first = {key: value[:batch_size] for key, value in inputs.items()}
    model.fit(first, targets[:batch_size], **fit)
    start = time.perf_counter()
    model.fit(inputs, targets, **fit)
    return (time.perf_counter() - start) / steps


def run(patch_sizes=PATCH_SIZES, batch_size=4, steps=2, models=("rin", "vit")):
    rows = []
    for model_name in models:
        for patch_size in patch_sizes:
            model, forward_flops = build(model_name, patch_size)
            step = time_training(model, batch_size, steps)
            flops = 3 * forward_flops * batch_size
            rows.append(
                {
                    "model": model_name,
                    "patch_size": patch_size,
                    "tokens": (IMAGE_SHAPE[0] // patch_size) ** 2,
                    "parameters": model.count_params(),
                    "forward_gflops_per_image": forward_flops / 1e9,
                    "train_step_s": step,
                    "train_flops_per_s": flops / step,
                }
            )
    return {
        "backend": keras.config.backend(),
        "device": benchmark_utils.device_description(),
        "image_shape": IMAGE_SHAPE,
        "batch_size": batch_size,
        "rin_config": RIN_CONFIG,
        "vit_config": VIT_CONFIG,
        "rows": rows,
        "growth": growth(rows),
    }


def growth(rows):
    """Per model: how much the step time and the FLOPs grow from the
    fewest to the most tokens, and the token ratio."""
    result = {}
    for model_name in sorted({row["model"] for row in rows}):
        mine = sorted(
            (r for r in rows if r["model"] == model_name),
            key=lambda r: r["tokens"],
        )
        first, last = mine[0], mine[-1]
        result[model_name] = {
            "tokens": last["tokens"] / first["tokens"],
            "time": last["train_step_s"] / first["train_step_s"],
            "flops": last["forward_gflops_per_image"]
            / first["forward_gflops_per_image"],
        }
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--patch-sizes", type=int, nargs="+", default=list(PATCH_SIZES)
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(tuple(args.patch_sizes), args.batch_size, args.steps)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
