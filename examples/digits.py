"""Train a class-conditional RIN on handwritten digits: the `rin_digits`
preset.

The data is scikit-learn's bundled digits (8x8 pixels, 10 classes; they ship
inside the scikit-learn wheel, so this runs offline, on any backend). The
model trains on a fixed 1,347-digit split and the other 450 are held out for
`examples/evaluate_digits.py`.

    KERAS_BACKEND=jax python examples/digits.py
    KERAS_BACKEND=jax python examples/digits.py --output my_digits
    KERAS_BACKEND=jax python examples/digits.py --distribution data
    KERAS_BACKEND=jax python examples/digits.py --elastic-latents 4 8 16 \
        --elastic-probabilities 0.25 0.25 0.5 --output elastic_digits

It saves a preset directory (load it with
`keras_rin.RINImageGenerator.from_preset("my_digits")`) and a PNG grid with
one row per class. The shipped preset came from the default settings: 22
minutes on a 2-core CPU with JAX (see applications/rin_digits/README.md).
The optimizer comes from the preset's recipe
(`keras_rin.training.TrainingRecipe.from_preset("rin_digits")`: AdamW,
lr 2e-3, 5% warm-up, cosine decay, EMA 0.999). The run directory
(`--run-dir`) holds a backup, so an interrupted run resumes when started
again with the same command, a preset of the EMA weights and sample grids
every 100 epochs.
"""

import argparse
import os

import keras
import numpy as np

import keras_rin
from keras_rin.visualization import save_image_grid

# Hyper-parameters (the optimizer's are in the preset's recipe).
EPOCHS = 500
BATCH_SIZE = 64
LABEL_DROPOUT_RATE = 0.1
SAMPLING_STEPS = 100
GUIDANCE_SCALE = 1.0
SAMPLES_PER_CLASS = 10
SAMPLE_EVERY_EPOCHS = 100
DESCRIPTION = (
    "Class-conditional RIN trained on scikit-learn's 8x8 digits; samples "
    "in seconds on a CPU."
)

# The network: 16 interface tokens (2x2 patches) and 16 latents (14 learned,
# plus the noise-level and class tokens). Small enough for about 11,000
# updates in about 22 minutes on a 2-core CPU, which matters more here than
# width.
BACKBONE = dict(
    image_shape=(8, 8, 1),
    patch_size=2,
    num_latents=16,
    latent_dim=64,
    interface_dim=64,
    num_blocks=2,
    block_depth=2,
    latent_num_heads=4,
    rw_num_heads=4,
    num_classes=10,
)

# At 8x8 every pixel carries a lot of the signal, so the cosine schedule
# suits training better than the sigmoid schedule the paper uses for
# 64x64 and larger, and v-prediction learns far faster here than
# eps-prediction (the paper's choice).
GENERATOR = dict(
    train_schedule="cosine",
    sampling_schedule="cosine",
    prediction_target="v",
    self_conditioning_rate=0.9,
    label_dropout_rate=LABEL_DROPOUT_RATE,
    guidance_scale=GUIDANCE_SCALE,
)


def build_model(seed=0, **generator_options):
    backbone = keras_rin.RINBackbone(**BACKBONE)
    config = {**GENERATOR, **generator_options}
    return keras_rin.RINImageGenerator(backbone, seed=seed, **config)


def build_optimizer(total_steps):
    # Linear warm-up, then cosine decay; without the warm-up the loss
    # plateaus about twice as high. The EMA of the weights is what `fit`
    # leaves in the model and what the checkpoints hold.
    recipe = keras_rin.training.TrainingRecipe.from_preset("rin_digits")
    return recipe.build_optimizer(total_steps)


def generate_grid(model, num_steps, verbose="auto"):
    labels = np.repeat(np.arange(10), SAMPLES_PER_CLASS)
    return model.generate(
        labels=labels,
        num_steps=num_steps,
        seed=0,
        verbose=verbose,
    )


def main(
    epochs=EPOCHS,
    output="rin_digits",
    mixed_precision=False,
    smoke=False,
    batch_size=BATCH_SIZE,
    run_dir=None,
    distribution="none",
    elastic_latent_counts=None,
    elastic_latent_probabilities=None,
):
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    images, labels = keras_rin.data.load_digits("train")
    sampling_steps = SAMPLING_STEPS
    if smoke:
        # A seconds-long run that exercises every line (used by the tests).
        images, labels, epochs, sampling_steps = (
            images[:128],
            labels[:128],
            1,
            2,
        )
    distribution = keras_rin.distribution.make_distribution(distribution)
    if distribution is not None:
        keras.distribution.set_distribution(distribution)
    model = build_model(
        elastic_latent_counts=elastic_latent_counts,
        elastic_latent_probabilities=elastic_latent_probabilities,
    )
    steps_per_epoch = -(-len(images) // batch_size)
    model.compile(optimizer=build_optimizer(epochs * steps_per_epoch))
    run_dir = run_dir or output.rstrip("/") + "_run"
    callbacks = keras_rin.training.training_callbacks(
        run_dir,
        sample_every_n_epochs=SAMPLE_EVERY_EPOCHS,
        checkpoint_every_n_epochs=SAMPLE_EVERY_EPOCHS,
        sample_kwargs=dict(
            labels=np.repeat(np.arange(10), SAMPLES_PER_CLASS),
            num_steps=sampling_steps,
            num_columns=10,
            upscale=4,
        ),
        description=DESCRIPTION,
    )
    model.fit(
        images,
        labels,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=callbacks,
    )
    model.save_to_preset(output, description=DESCRIPTION)
    samples = generate_grid(model, sampling_steps)
    grid_path = output.rstrip("/") + "_samples.png"
    save_image_grid(samples, grid_path, num_columns=10, upscale=4)
    print(f"Saved the preset to {output}/ and samples to {grid_path}")
    return model, samples


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument(
        "--output", default="rin_digits", help="preset directory to write"
    )
    parser.add_argument(
        "--run-dir", help="backup, checkpoints, samples: <output>_run"
    )
    parser.add_argument(
        "--distribution",
        choices=keras_rin.distribution.DISTRIBUTION_KINDS[:2],
        default="none",
        help="JAX only: data parallelism over all devices",
    )
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--elastic-latents",
        type=int,
        nargs="+",
        help="train for these active-latent counts, e.g. 4 8 16 "
        "(examples/elastic_latents.py)",
    )
    parser.add_argument(
        "--elastic-probabilities",
        type=float,
        nargs="+",
        help="one probability per --elastic-latents count (default uniform)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    main(
        args.epochs,
        args.output,
        args.mixed_precision,
        args.smoke,
        args.batch_size,
        args.run_dir,
        args.distribution,
        args.elastic_latents,
        args.elastic_probabilities,
    )
