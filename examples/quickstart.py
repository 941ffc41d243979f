"""Quick start: train a small class-conditional RIN on handwritten digits and
sample every class.

The data is scikit-learn's bundled digits (1,797 images of 8x8 pixels that
ship inside the scikit-learn wheel), so this runs offline, on any backend:

    KERAS_BACKEND=jax python examples/quickstart.py
    KERAS_BACKEND=torch python examples/quickstart.py --mixed-precision

It writes `quickstart_samples.png`: one row per digit class. It takes about
7 minutes on a 2-core CPU; 30 epochs show the API working end to end but are
not enough training for legible digits (raise `--epochs` for that).
"""

import argparse

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_rin
from keras_rin.visualization import save_image_grid

# Hyper-parameters.
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
WARMUP_FRACTION = 0.1
SAMPLING_STEPS = 50
SAMPLES_PER_CLASS = 8


def load_data():
    # Digit pixels are integers 0..16; the model takes images in [0, 1].
    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    return images, digits.target.astype("int32")


def build_model():
    # A small RIN: 16 interface tokens (2x2 patches) and 32 latents.
    backbone = keras_rin.RINBackbone(
        image_shape=(8, 8, 1),
        patch_size=2,
        num_latents=32,
        latent_dim=128,
        interface_dim=64,
        num_blocks=2,
        block_depth=2,
        latent_num_heads=4,
        rw_num_heads=4,
        num_classes=10,
    )
    # The paper's defaults: eps prediction, sigmoid training schedule,
    # latent self-conditioning on 90% of the examples.
    return keras_rin.RINImageGenerator(backbone, seed=0)


def main(
    epochs=EPOCHS,
    mixed_precision=False,
    output="quickstart_samples.png",
    smoke=False,
):
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    images, labels = load_data()
    sampling_steps = SAMPLING_STEPS
    if smoke:
        # A seconds-long run that exercises every line (used by the tests).
        images, labels, epochs, sampling_steps = (
            images[:128],
            labels[:128],
            1,
            2,
        )
    model = build_model()
    # Linear warm-up then cosine decay, as in the paper's recipe: without
    # the warm-up the loss plateaus about twice as high.
    total_steps = epochs * -(-len(images) // BATCH_SIZE)
    warmup_steps = max(1, int(WARMUP_FRACTION * total_steps))
    learning_rate = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup_steps),
        warmup_target=LEARNING_RATE,
        warmup_steps=warmup_steps,
    )
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate))
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=epochs)

    # One row per class; equal seeds give equal samples on every run.
    sample_labels = np.repeat(np.arange(10), SAMPLES_PER_CLASS)
    samples = model.generate(
        labels=sample_labels, num_steps=sampling_steps, seed=0
    )
    save_image_grid(samples, output, num_columns=SAMPLES_PER_CLASS, upscale=4)
    print(f"Saved {len(samples)} samples to {output}")
    return model, samples


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--output", default="quickstart_samples.png")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    main(args.epochs, args.mixed_precision, args.output, args.smoke)
