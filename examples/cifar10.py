"""Train the paper's class-conditional CIFAR-10 RIN (`rin_cifar10`).

The recipe is the official code's CIFAR-10 run (FID 1.81): LAMB with the
official semantics, lr 3e-3, 10k warm-up steps, 0.8 of a cosine decay,
batch 256, 150k steps, EMA 0.9999, self-conditioning rate 0.9, dropout and
drop-path 0.1. It ships with the preset
(`keras_rin.training.TrainingRecipe.from_preset("rin_cifar10")`).

    pip install ".[jax,data]"
    KERAS_BACKEND=jax python examples/cifar10.py --run-dir runs/cifar10
    KERAS_BACKEND=jax python examples/cifar10.py --distribution data
    KERAS_BACKEND=jax python examples/cifar10.py --smoke   # seconds, offline

tensorflow-datasets downloads CIFAR-10 (170 MB) on the first run
(`--data-dir` chooses where, `~/tensorflow_datasets` by default). Offline,
put `cifar-10-binary.tar.gz` (from
https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) in
`<data-dir>/downloads/manual/` instead: tensorflow-datasets checks its
checksum and prepares the data set from it. Without either, the script
says so and exits. `--tiny` checks the data and the setup in seconds with
a tiny model. The run directory collects everything: a backup that lets
an interrupted run resume (start it again with the same command), a preset
of the EMA weights after every epoch (`checkpoint/`), a sample grid per
epoch (`samples/`, one row per class) and the final preset (`final/`).
An "epoch" here is `--steps-per-epoch` updates, the checkpoint interval.
"""

import argparse
import math
import os
import shlex
import sys

import keras
import numpy as np

import keras_rin

# Hyper-parameters (the rest is the preset's recipe).
PRESET = "rin_cifar10"
STEPS_PER_EPOCH = 1_000
SAMPLING_STEPS = 100
SAMPLES_PER_CLASS = 10

# A model small enough to take a few steps in seconds on a CPU, for
# --tiny and --smoke: 64 interface tokens (4x4 patches of 32x32 images).
TINY_BACKBONE = dict(
    image_shape=(32, 32, 3),
    patch_size=4,
    num_latents=16,
    latent_dim=32,
    interface_dim=64,
    num_blocks=1,
    block_depth=1,
    latent_num_heads=2,
    rw_num_heads=2,
    num_classes=10,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/rin_cifar10")
    parser.add_argument("--data-dir", help="tensorflow-datasets data_dir")
    parser.add_argument("--batch-size", type=int, help="default: recipe's")
    parser.add_argument("--steps", type=int, help="default: recipe's")
    parser.add_argument("--steps-per-epoch", type=int, default=STEPS_PER_EPOCH)
    parser.add_argument(
        "--distribution",
        choices=keras_rin.distribution.DISTRIBUTION_KINDS,
        default="none",
        help="JAX only: data or model parallelism over all devices",
    )
    parser.add_argument(
        "--model-parallel",
        type=int,
        default=1,
        help='devices per model replica with --distribution "model"',
    )
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--tensorboard", action="store_true")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a tiny model for two one-step epochs, to check data and setup",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="--tiny on mock data (offline, no data set needed)",
    )
    args = parser.parse_args(argv)
    args.tiny = args.tiny or args.smoke
    return args


def load_cifar10(batch_size, data_dir=None, smoke=False):
    """An endless stream of (images in [0, 1], labels), randomly flipped."""
    load = lambda: keras_rin.data.load_tfds_images(  # noqa: E731
        "cifar10", batch_size=batch_size, data_dir=data_dir, repeat=True
    )
    if not smoke:
        return load()
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4 * batch_size):
        return load()


def build_model(config, tiny=False):
    """The paper's architecture from its preset, randomly initialised
    (`tiny`: `TINY_BACKBONE`)."""
    if tiny:
        backbone = keras_rin.RINBackbone(**config)
        return keras_rin.RINImageGenerator(backbone)
    dtype = keras.config.dtype_policy().name
    return keras_rin.RINImageGenerator.from_preset(PRESET, dtype=dtype)


def main(argv=None):
    args = parse_args(argv)
    if args.mixed_precision:
        # bfloat16 matrix products; embeddings, LayerNorm statistics,
        # attention softmax and the diffusion arithmetic stay in float32.
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    recipe = keras_rin.training.TrainingRecipe.from_preset(PRESET)
    batch_size = args.batch_size or recipe.batch_size
    steps = args.steps or recipe.total_steps
    steps_per_epoch = args.steps_per_epoch
    sampling_steps = SAMPLING_STEPS
    config = keras_rin.presets.read_backbone_config(PRESET)
    if args.tiny:
        batch_size, steps, steps_per_epoch, sampling_steps = 8, 2, 1, 2
        config = TINY_BACKBONE
    epochs = math.ceil(steps / steps_per_epoch)

    # The distribution (JAX only) must be in place before the variables
    # are created, so that they take their layout.
    distribution = keras_rin.distribution.make_distribution(
        args.distribution, config, args.model_parallel
    )
    if distribution is not None:
        keras.distribution.set_distribution(distribution)
    dataset = load_cifar10(batch_size, args.data_dir, args.smoke)
    model = build_model(config, args.tiny)
    model.compile(optimizer=recipe.build_optimizer(epochs * steps_per_epoch))

    labels = np.repeat(np.arange(10), SAMPLES_PER_CLASS)
    callbacks = keras_rin.training.training_callbacks(
        args.run_dir,
        sample_kwargs=dict(
            labels=labels,
            num_steps=sampling_steps,
            num_columns=SAMPLES_PER_CLASS,
            upscale=2,
        ),
        tensorboard=args.tensorboard,
        description="RIN trained on CIFAR-10 with the official recipe.",
    )
    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
    )
    final = os.path.join(args.run_dir, "final")
    model.save_to_preset(final, "RIN trained on CIFAR-10 (EMA weights).")
    print(f"Saved the final preset (EMA weights) to {final}/")
    return model


def run(argv=None):
    """`main`, ending with a short message and a non-zero exit status,
    without a traceback, when the data set is not available."""
    try:
        return main(argv)
    except keras_rin.data.DataUnavailableError as error:
        argv = sys.argv[1:] if argv is None else argv
        command = shlex.join(["python", "examples/cifar10.py", *argv])
        backend = keras.config.backend()
        sys.exit(
            f"{error}\n\nThen run again:\n  KERAS_BACKEND={backend} {command}"
        )


if __name__ == "__main__":
    run()
