"""Train a class-conditional RIN on 32x32 colour emoji: the `rin_emoji32`
preset.

The data is Google's Noto Color Emoji, rendered by
`keras_rin.data.load_emoji` from two Debian packages that install offline by
name (`apt install fonts-noto-color-emoji unicode-data`): 1,861 emoji
without skin-tone variants, labelled with their Unicode group (Smileys &
Emotion, People & Body, Animals & Nature, Food & Drink, Travel & Places,
Activities, Objects, Symbols, Flags). The model trains on a fixed 1,489-emoji
split; the other 372 are held out for `examples/evaluate_emoji.py`.

    KERAS_BACKEND=torch python examples/emoji.py
    KERAS_BACKEND=jax python examples/emoji.py --output my_emoji
    KERAS_BACKEND=torch python examples/emoji.py --self-conditioning-rate 0 \
        --stop-after-epoch 75 --output emoji_no_self_cond

It saves a preset directory (load it with
`keras_rin.RINImageGenerator.from_preset("my_emoji")`), its training recipe
and a PNG grid with one row per group. The shipped preset came from the
default settings on a 2-core CPU (see applications/rin_emoji32/README.md).
The run directory (`--run-dir`, default `<output>_run`) holds a backup, so
an interrupted run resumes when started again with the same command, the EMA
weights as a preset every 25 epochs (`epoch_NNNN/`, for the curves of
`examples/evaluate_emoji.py`) and sample grids.
"""

import argparse
import os

import keras
import numpy as np

import keras_rin
from keras_rin.visualization import save_image_grid

# Hyper-parameters.
EPOCHS = 150
BATCH_SIZE = 64
SAMPLES_PER_GROUP = 10
SNAPSHOT_EVERY_EPOCHS = 25
NUM_GROUPS = len(keras_rin.data.EMOJI_GROUPS)
DESCRIPTION = (
    "Class-conditional RIN trained on 32x32 Noto Color Emoji (9 Unicode "
    "groups); samples in seconds on a CPU."
)

# The network: 64 interface tokens (4x4 patches of 48 values) of width 96
# and 32 latents of width 160 (30 learned, plus the noise-level and class
# tokens), 3 blocks of 2 latent layers. On a 2-core CPU it takes 0.64 s per
# update of 64 images on PyTorch: the size was chosen for about 3,600
# updates in 40 minutes, which matters more here than width.
BACKBONE = dict(
    image_shape=(32, 32, 3),
    patch_size=4,
    num_latents=32,
    latent_dim=160,
    interface_dim=96,
    num_blocks=3,
    block_depth=2,
    latent_num_heads=5,
    rw_num_heads=3,
    num_classes=NUM_GROUPS,
)

# A seconds-long run that exercises every line (used by the tests).
SMOKE_BACKBONE = dict(
    num_latents=8,
    latent_dim=32,
    interface_dim=48,
    num_blocks=1,
    block_depth=1,
    latent_num_heads=2,
    rw_num_heads=2,
)

# As for the digits: cosine schedules and v-prediction (the paper uses
# eps-prediction and, above 32x32, the sigmoid schedule); self-conditioning
# as in the paper; 10% label dropout for classifier-free guidance.
GENERATOR = dict(
    train_schedule="cosine",
    sampling_schedule="cosine",
    prediction_target="v",
    self_conditioning_rate=0.9,
    label_dropout_rate=0.1,
    sampler="dpmpp_3m",
    num_sampling_steps=20,
)


def build_model(seed=0, smoke=False, **generator_options):
    backbone = keras_rin.RINBackbone(
        **{**BACKBONE, **(SMOKE_BACKBONE if smoke else {})}
    )
    config = {**GENERATOR, **generator_options}
    return keras_rin.RINImageGenerator(backbone, seed=seed, **config)


def build_recipe(total_steps):
    # AdamW with a linear warm-up and cosine decay; the EMA of the weights
    # is what `fit` leaves in the model and what the checkpoints hold.
    return keras_rin.training.TrainingRecipe(
        optimizer="adamw",
        learning_rate=2e-3,
        total_steps=total_steps,
        warmup_steps=total_steps // 20,
        batch_size=BATCH_SIZE,
        epsilon=1e-7,
        weight_decay=0.01,
        exclude_from_weight_decay=(),
        global_clipnorm=1.0,
        ema_momentum=0.998,
        description=(
            "How the shipped rin_emoji32 weights were trained: "
            f"{total_steps} updates of batch {BATCH_SIZE} "
            "(examples/emoji.py)."
        ),
    )


def grid_labels():
    return np.repeat(np.arange(NUM_GROUPS), SAMPLES_PER_GROUP)


def main(
    epochs=EPOCHS,
    output="rin_emoji32",
    run_dir=None,
    self_conditioning_rate=0.9,
    smoke=False,
    data_options=None,
    stop_after_epoch=None,
):
    keras.utils.set_random_seed(0)
    images, labels = keras_rin.data.load_emoji("train", **(data_options or {}))
    if smoke:
        images, labels = images[:128], labels[:128]
        epochs = min(epochs, 2)
    model = build_model(
        smoke=smoke, self_conditioning_rate=self_conditioning_rate
    )
    steps_per_epoch = -(-len(images) // BATCH_SIZE)
    recipe = build_recipe(epochs * steps_per_epoch)
    model.compile(optimizer=recipe.build_optimizer())
    run_dir = run_dir or output.rstrip("/") + "_run"
    callbacks = keras_rin.training.training_callbacks(
        run_dir,
        sample_every_n_epochs=SNAPSHOT_EVERY_EPOCHS,
        checkpoint_every_n_epochs=SNAPSHOT_EVERY_EPOCHS,
        sample_kwargs=dict(
            labels=grid_labels(), num_columns=SAMPLES_PER_GROUP, upscale=2
        ),
        description=DESCRIPTION,
    )
    callbacks.append(
        keras_rin.callbacks.PresetCheckpoint(
            os.path.join(run_dir, "epoch_{epoch:04d}"),
            every_n_epochs=SNAPSHOT_EVERY_EPOCHS,
            description=DESCRIPTION,
            verbose=0,
        )
    )
    # The schedule spans `epochs`; an ablation may stop part of the way,
    # to compare runs at the same step of the same schedule.
    model.fit(
        images,
        labels,
        batch_size=BATCH_SIZE,
        epochs=min(epochs, stop_after_epoch or epochs),
        callbacks=callbacks,
    )
    model.save_to_preset(output, description=DESCRIPTION)
    recipe.save(output)
    samples = model.generate(labels=grid_labels(), seed=0)
    grid_path = output.rstrip("/") + "_samples.png"
    save_image_grid(samples, grid_path, num_columns=SAMPLES_PER_GROUP)
    print(f"Saved the preset to {output}/ and samples to {grid_path}")
    return model, samples


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--output", default="rin_emoji32", help="preset directory to write"
    )
    parser.add_argument(
        "--run-dir", help="backup, snapshots, samples: <output>_run"
    )
    parser.add_argument(
        "--self-conditioning-rate",
        type=float,
        default=0.9,
        help="the paper's Figure 7a ablation compares 0 and 0.9",
    )
    parser.add_argument(
        "--stop-after-epoch",
        type=int,
        help="train only this many epochs of the --epochs schedule",
    )
    parser.add_argument("--font-path", help="NotoColorEmoji.ttf")
    parser.add_argument("--emoji-test-path", help="Unicode's emoji-test.txt")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    main(
        args.epochs,
        args.output,
        args.run_dir,
        args.self_conditioning_rate,
        args.smoke,
        dict(font_path=args.font_path, emoji_test_path=args.emoji_test_path),
        args.stop_after_epoch,
    )
