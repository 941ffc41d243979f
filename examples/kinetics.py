"""Train the paper's Kinetics-600 video predictor (`rin_kinetics600`).

RIN predicts the 11 next frames of a 16-frame 64x64 clip from its first 5
(Section 3 and Tables C.1 / C.2 of the paper). Kinetics-600 cannot be
downloaded by a script: bring the videos yourself, laid out as
`<root>/<class>/<video>.mp4` (any format PyAV reads), or train on a
tensorflow-datasets video data set instead.

    pip install ".[jax,video,data]"
    KERAS_BACKEND=jax python examples/kinetics.py --video-dir ~/k600/train
    KERAS_BACKEND=jax python examples/kinetics.py --tfds ucf101

It saves a preset directory, an animated GIF and a frame strip of
predictions (context frames marked in blue, predictions in orange) over the
true clips. `--smoke` trains a tiny model for two steps, to check a setup.

The paper trains for 500K updates at batch 1024 on TPUs; on one GPU, expect
a usable model only after days.
"""

import argparse
import os
import shlex
import sys

import keras
import numpy as np

import keras_rin
from keras_rin.visualization import save_frame_strip
from keras_rin.visualization import save_video_gif

# Hyper-parameters: Tables C.1 / C.2 of the paper (the optimizer's come from
# the preset's recipe), except the batch size (1024 in the paper), which has
# to fit one device.
PRESET = "rin_kinetics600"
NUM_FRAMES = 16
FRAME_SIZE = 64
BATCH_SIZE = 16
TRAIN_STEPS = 500_000
STEPS_PER_EPOCH = 1_000
SAMPLING_STEPS = 400
SHOWN_CLIPS = 4

# A model small enough to take two steps in seconds on a CPU, for --smoke.
SMOKE_BACKBONE = dict(
    latent_dim=32,
    interface_dim=96,
    num_latents=16,
    num_blocks=1,
    block_depth=1,
    latent_num_heads=2,
    rw_num_heads=2,
)


def load_clips(video_dir=None, tfds_name=None, data_dir=None, seed=0):
    """Float clips in [0, 1] of NUM_FRAMES x FRAME_SIZE x FRAME_SIZE x 3."""
    if video_dir:
        return keras_rin.data.load_video_folder(
            video_dir,
            num_frames=NUM_FRAMES,
            frame_size=FRAME_SIZE,
            batch_size=BATCH_SIZE,
            seed=seed,
        )
    if tfds_name:
        return keras_rin.data.load_tfds_videos(
            tfds_name,
            num_frames=NUM_FRAMES,
            frame_size=FRAME_SIZE,
            batch_size=BATCH_SIZE,
            data_dir=data_dir,
            seed=seed,
        )
    raise ValueError("Give --video-dir (e.g. Kinetics-600) or --tfds NAME.")


def build_model(smoke=False):
    """The paper's architecture from its preset, randomly initialised."""
    if not smoke:
        return keras_rin.RINVideoPredictor.from_preset(PRESET)
    backbone = keras_rin.RINVideoBackbone(
        video_shape=(NUM_FRAMES, FRAME_SIZE, FRAME_SIZE, 3),
        patch_size=4,
        frames_per_patch=2,
        **SMOKE_BACKBONE,
    )
    return keras_rin.RINVideoPredictor(
        backbone, num_context_frames=5, self_conditioning_rate=0.85
    )


def build_optimizer(total_steps):
    # Table C.2 through the preset's recipe: LAMB with the official
    # semantics (biases and LayerNorm parameters outside weight decay and
    # the trust ratio), 10k warm-up steps, cosine decay, EMA 0.99.
    recipe = keras_rin.training.TrainingRecipe.from_preset(PRESET)
    return recipe.build_optimizer(total_steps)


def save_predictions(model, clips, path_prefix, num_steps):
    """A GIF and a frame strip of predictions over the true clips."""
    c = model.num_context_frames
    predicted = model.generate(clips[:, :c], num_steps=num_steps, seed=0)
    gif = save_video_gif(
        path_prefix + ".gif",
        predicted,
        num_context_frames=c,
        ground_truth=clips,
    )
    strip = save_frame_strip(
        path_prefix + ".png",
        predicted,
        num_context_frames=c,
        ground_truth=clips,
    )
    return gif, strip


def main(
    video_dir=None,
    tfds_name=None,
    data_dir=None,
    output="rin_kinetics600_trained",
    train_steps=TRAIN_STEPS,
    smoke=False,
):
    keras.utils.set_random_seed(0)
    clips = load_clips(video_dir, tfds_name, data_dir)
    sampling_steps, steps_per_epoch = SAMPLING_STEPS, STEPS_PER_EPOCH
    if smoke:
        train_steps, steps_per_epoch, sampling_steps = 2, 2, 2
    model = build_model(smoke)
    model.compile(optimizer=build_optimizer(train_steps))
    model.fit(
        clips.repeat(),
        steps_per_epoch=steps_per_epoch,
        epochs=max(1, train_steps // steps_per_epoch),
    )
    model.save_to_preset(output, description="RIN trained on video clips.")
    shown = next(iter(clips.take(1)))
    shown = np.asarray(shown[0] if isinstance(shown, tuple) else shown)
    prefix = output.rstrip("/") + "_predictions"
    gif, strip = save_predictions(
        model, shown[:SHOWN_CLIPS], prefix, sampling_steps
    )
    print(f"Saved the preset to {output}/, predictions to {gif} and {strip}")
    return model


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video-dir", help="a folder of videos (Kinetics)")
    parser.add_argument("--tfds", help="a tensorflow-datasets video data set")
    parser.add_argument("--data-dir", help="tensorflow-datasets data_dir")
    parser.add_argument("--output", default="rin_kinetics600_trained")
    parser.add_argument("--train-steps", type=int, default=TRAIN_STEPS)
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    try:
        main(
            args.video_dir,
            args.tfds,
            args.data_dir,
            args.output,
            args.train_steps,
            args.smoke,
        )
    except keras_rin.data.DataUnavailableError as error:
        command = shlex.join(["python", "examples/kinetics.py", *sys.argv[1:]])
        backend = keras.config.backend()
        sys.exit(
            f"{error}\n\nThen run again:\n  KERAS_BACKEND={backend} {command}"
        )
