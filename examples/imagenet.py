"""Train the paper's class-conditional ImageNet RIN (`rin_imagenet_<size>`).

One script for every resolution of Tables C.1 / C.2 of the paper (64, 128,
256, 512, 1024): the architecture comes from the preset and so does the
recipe (LAMB with the official semantics, lr 1e-3, 10k warm-up steps,
cosine decay, batch 1024, EMA 0.9999, self-conditioning rate 0.9; the
number of updates and the weight decay depend on the resolution).

    pip install ".[jax,data]"
    KERAS_BACKEND=jax python examples/imagenet.py --resolution 64
    KERAS_BACKEND=jax python examples/imagenet.py --resolution 64 \
        --dataset imagenet_resized/64x64 --batch-size 256
    KERAS_BACKEND=jax python examples/imagenet.py --resolution 256 \
        --distribution model --model-parallel 4 --mixed-precision
    KERAS_BACKEND=jax python examples/imagenet.py --resolution 64 \
        --dataset folder:~/my_images  # <class>/<image>.jpg, up to 1000
    KERAS_BACKEND=jax python examples/imagenet.py --smoke  # seconds, offline

ImageNet cannot be downloaded by a script: download
`ILSVRC2012_img_train.tar` (138 GB) and `ILSVRC2012_img_val.tar` (6.3 GB)
from https://image-net.org/download-images (after registering), put them in
`<data-dir>/downloads/manual/` (`--data-dir` defaults to
`~/tensorflow_datasets`), and tensorflow-datasets prepares `imagenet2012`
on the first run (hours; once). `--tiny` then checks the prepared data in
seconds with a tiny model. Without the archives, the script says where they
go and exits. Images are cropped to their central square, resized to the
resolution and flipped at random. `imagenet_resized/64x64` (downloaded by
tensorflow-datasets) is a quicker start for 64.
The paper's batch of 1024 is global: lower `--batch-size` on fewer
devices (the learning rate is not rescaled).

The run directory collects everything: a backup that lets an interrupted
run resume (start it again with the same command), a preset of the EMA
weights after every epoch (`checkpoint/`), a sample grid per epoch
(`samples/`, one row per class) and the final preset (`final/`).
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
RESOLUTIONS = (64, 128, 256, 512, 1024)
DATASET = "imagenet2012"
# `--dataset folder:<directory>` trains on your own images instead.
FOLDER_PREFIX = "folder:"
STEPS_PER_EPOCH = 1_000
SAMPLING_STEPS = 100
# The classes of the paper's sample figures (D.1, D.2): shuttle, arctic
# fox, lorikeet, panda, cockatoo, go-kart, macaw, white wolf, lion, husky.
SAMPLE_CLASSES = (812, 279, 90, 388, 89, 573, 88, 270, 291, 250)
SAMPLES_PER_CLASS = 4

# A model small enough to take a few steps in seconds on a CPU, for
# --tiny and --smoke: 16x16 images in 4x4 patches (16 interface tokens).
TINY_BACKBONE = dict(
    image_shape=(16, 16, 3),
    patch_size=4,
    num_latents=16,
    latent_dim=32,
    interface_dim=64,
    num_blocks=1,
    block_depth=1,
    latent_num_heads=2,
    rw_num_heads=2,
    num_classes=1000,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--resolution", type=int, choices=RESOLUTIONS, default=64
    )
    parser.add_argument(
        "--dataset",
        default=DATASET,
        help="imagenet2012, imagenet_resized/64x64 (and smaller), or "
        "folder:<directory> (one sub-folder of images per class)",
    )
    parser.add_argument("--run-dir", help="default: runs/rin_imagenet_<size>")
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


def load_imagenet(name, size, batch_size, data_dir=None, smoke=False):
    """An endless stream of (images in [0, 1], labels): central square
    crops resized to `size`, randomly flipped. `name` is a TFDS data set
    or `folder:<directory>` (a sub-folder of images per class)."""
    if name.startswith(FOLDER_PREFIX):
        return keras_rin.data.load_image_folder(
            os.path.expanduser(name[len(FOLDER_PREFIX) :]),
            size,
            batch_size=batch_size,
            repeat=True,
        )
    load = lambda: keras_rin.data.load_tfds_images(  # noqa: E731
        name,
        image_size=size,
        batch_size=batch_size,
        data_dir=data_dir,
        repeat=True,
    )
    if not smoke:
        return load()
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4 * batch_size):
        return load()


def build_model(preset, config, tiny=False):
    """The paper's architecture from its preset, randomly initialised
    (`tiny`: `TINY_BACKBONE`)."""
    if tiny:
        backbone = keras_rin.RINBackbone(**config)
        return keras_rin.RINImageGenerator(backbone)
    dtype = keras.config.dtype_policy().name
    return keras_rin.RINImageGenerator.from_preset(preset, dtype=dtype)


def main(argv=None):
    args = parse_args(argv)
    if args.mixed_precision:
        # bfloat16 matrix products; embeddings, LayerNorm statistics,
        # attention softmax and the diffusion arithmetic stay in float32.
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    preset = f"rin_imagenet_{args.resolution}"
    run_dir = args.run_dir or os.path.join("runs", preset)
    recipe = keras_rin.training.TrainingRecipe.from_preset(preset)
    batch_size = args.batch_size or recipe.batch_size
    steps = args.steps or recipe.total_steps
    steps_per_epoch = args.steps_per_epoch
    sampling_steps = SAMPLING_STEPS
    config = keras_rin.presets.read_backbone_config(preset)
    size = args.resolution
    if args.tiny:
        batch_size, steps, steps_per_epoch, sampling_steps = 8, 2, 1, 2
        config, size = TINY_BACKBONE, TINY_BACKBONE["image_shape"][0]
    epochs = math.ceil(steps / steps_per_epoch)

    # The distribution (JAX only) must be in place before the variables
    # are created, so that they take their layout.
    distribution = keras_rin.distribution.make_distribution(
        args.distribution, config, args.model_parallel
    )
    if distribution is not None:
        keras.distribution.set_distribution(distribution)
    dataset = load_imagenet(
        args.dataset, size, batch_size, args.data_dir, args.smoke
    )
    model = build_model(preset, config, args.tiny)
    model.compile(optimizer=recipe.build_optimizer(epochs * steps_per_epoch))

    labels = np.repeat(SAMPLE_CLASSES, SAMPLES_PER_CLASS)
    callbacks = keras_rin.training.training_callbacks(
        run_dir,
        sample_kwargs=dict(
            labels=labels,
            num_steps=sampling_steps,
            num_columns=SAMPLES_PER_CLASS,
        ),
        tensorboard=args.tensorboard,
        description=f"RIN trained on {args.dataset} at {size}x{size}.",
    )
    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
    )
    final = os.path.join(run_dir, "final")
    model.save_to_preset(final, f"RIN trained on {args.dataset} (EMA).")
    print(f"Saved the final preset (EMA weights) to {final}/")
    return model


def run(argv=None):
    """`main`, ending with a short message and a non-zero exit status,
    without a traceback, when the data set is not available."""
    try:
        return main(argv)
    except keras_rin.data.DataUnavailableError as error:
        argv = sys.argv[1:] if argv is None else argv
        command = shlex.join(["python", "examples/imagenet.py", *argv])
        backend = keras.config.backend()
        sys.exit(
            f"{error}\n\nThen run again:\n  KERAS_BACKEND={backend} {command}"
        )


if __name__ == "__main__":
    run()
