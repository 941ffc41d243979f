"""Train a RIN video predictor on bouncing shapes: the `rin_bouncing_shapes`
preset.

The clips are procedural (`keras_rin.data.make_bouncing_shapes`: squares and
discs moving at constant speed and bouncing off the walls of a 16x16 frame),
so this runs offline, on any backend. The model sees the first 2 frames of
an 8-frame clip and predicts the other 6: to do better than copying the last
frame it has to read each shape's velocity from the two context frames and
carry it on, bounces included.

    KERAS_BACKEND=jax python examples/bouncing_shapes.py
    KERAS_BACKEND=jax python examples/bouncing_shapes.py --output my_shapes

It saves a preset directory (load it with
`keras_rin.RINVideoPredictor.from_preset("my_shapes")`), an animated GIF and
a frame strip of predictions next to the true continuations, and prints the
per-frame error of the predictions against the true continuation beside the
error of copying the last context frame. The default settings take about
28 minutes on a 2-core CPU with JAX; that run did not predict convincingly
(its samples beat copying only from the third predicted frame on), so the
`rin_bouncing_shapes` preset ships the recipe without weights: see
applications/rin_bouncing_shapes/README.md.
"""

import argparse
import os

import keras
import numpy as np

import keras_rin
from keras_rin.visualization import save_frame_strip
from keras_rin.visualization import save_video_gif

# Hyper-parameters.
NUM_TRAIN_CLIPS = 40_000
NUM_TEST_CLIPS = 500
EPOCHS = 10
BATCH_SIZE = 64
SAMPLING_STEPS = 100
NUM_CONTEXT_FRAMES = 2
SHOWN_CLIPS = 8
DESCRIPTION = (
    "RIN video predictor for 16x16 bouncing shapes: 2 context frames, 6 "
    "predicted; trains offline on a CPU."
)

# The network: 8x16x16 clips cut into 2x4x4 patches give 64 interface
# tokens of 96 pixel values each; 16 latents (15 learned plus the
# noise-level token). The interface must be wider than a patch (128 > 96):
# the readout rebuilds each patch from its token alone, and a narrower
# interface cannot carry a clean patch through (the samples stay noisy).
# About 6,000 updates in 28 minutes on a 2-core CPU.
BACKBONE = dict(
    video_shape=(8, 16, 16, 3),
    patch_size=4,
    frames_per_patch=2,
    num_latents=16,
    latent_dim=64,
    interface_dim=128,
    interface_mlp_ratio=2,
    num_blocks=2,
    block_depth=2,
    latent_num_heads=4,
    rw_num_heads=4,
)

# As for the digits, small frames train better with the cosine schedule and
# v-prediction; the self-conditioning rate is the paper's Kinetics-600 one.
PREDICTOR = dict(
    num_context_frames=NUM_CONTEXT_FRAMES,
    train_schedule="cosine",
    sampling_schedule="cosine",
    prediction_target="v",
    self_conditioning_rate=0.85,
)


def load_data(num_train=NUM_TRAIN_CLIPS, num_test=NUM_TEST_CLIPS):
    """Disjoint training and test clips, uint8 `(n, 8, 16, 16, 3)`."""
    frames, size = BACKBONE["video_shape"][:2]
    return keras_rin.data.bouncing_shapes_splits(
        num_train, num_test, seed=0, num_frames=frames, image_size=size
    )


def build_model(seed=0):
    backbone = keras_rin.RINVideoBackbone(**BACKBONE)
    return keras_rin.RINVideoPredictor(backbone, seed=seed, **PREDICTOR)


def build_optimizer(total_steps):
    # The preset's recipe: AdamW, linear warm-up then cosine decay, and the
    # EMA of the weights, which `fit` leaves in the model.
    recipe = keras_rin.training.TrainingRecipe.from_preset(
        "rin_bouncing_shapes"
    )
    return recipe.build_optimizer(total_steps)


def predict(model, clips, num_steps, seed=0, verbose="auto"):
    """The model's continuation of each clip from its context frames."""
    context = clips[:, : model.num_context_frames]
    return model.generate(
        context, num_steps=num_steps, seed=seed, verbose=verbose
    )


def prediction_errors(model, clips, num_steps, seed=0):
    """Mean squared error per predicted frame (pixels in [0, 1]) of the
    model's predictions and of copying the last context frame, against the
    true continuation.

    Returns:
        dict with `"model"` and `"copy_last_frame"`, each a float array with
        one entry per predicted frame.
    """
    c = model.num_context_frames
    truth = clips.astype("float32") / 255.0
    predicted = predict(model, clips, num_steps, seed)
    copy = np.repeat(truth[:, c - 1 : c], truth.shape[1] - c, axis=1)
    return {
        "model": _frame_mse(predicted[:, c:], truth[:, c:]),
        "copy_last_frame": _frame_mse(copy, truth[:, c:]),
    }


def _frame_mse(prediction, truth):
    return np.mean(np.square(prediction - truth), axis=(0, 2, 3, 4))


def print_errors(errors):
    print("frame  model MSE  copy-last-frame MSE")
    model, copy = errors["model"], errors["copy_last_frame"]
    for index, (m, c) in enumerate(zip(model, copy, strict=True)):
        print(f"{NUM_CONTEXT_FRAMES + index + 1:>5}  {m:9.5f}  {c:19.5f}")
    print(f"  all  {model.mean():9.5f}  {copy.mean():19.5f}")


def save_pictures(model, clips, path_prefix, num_steps, verbose="auto"):
    """A GIF and a frame strip of predictions over the true clips."""
    predicted = predict(model, clips, num_steps, verbose=verbose)
    truth = clips.astype("float32") / 255.0
    gif = save_video_gif(
        path_prefix + ".gif",
        predicted,
        num_context_frames=model.num_context_frames,
        ground_truth=truth,
        fps=3,
    )
    strip = save_frame_strip(
        path_prefix + ".png",
        predicted,
        num_context_frames=model.num_context_frames,
        ground_truth=truth,
    )
    return gif, strip


class SaveVideos(keras.callbacks.Callback):
    """Saves predictions on a few test clips every few epochs, from the
    EMA weights, so the progress of a long run can be watched."""

    def __init__(self, clips, path_prefix, every_epochs, num_steps):
        super().__init__()
        self.clips = clips
        self.path_prefix = path_prefix
        self.every_epochs = every_epochs
        self.num_steps = num_steps

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs == 0:
            with self.model.ema_weights():
                save_pictures(
                    self.model, self.clips, self.path_prefix, self.num_steps, 0
                )


def main(
    epochs=EPOCHS,
    output="rin_bouncing_shapes",
    mixed_precision=False,
    smoke=False,
):
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    sampling_steps = SAMPLING_STEPS
    if smoke:
        # A seconds-long run that exercises every line (used by the tests).
        train, test = load_data(128, 16)
        epochs, sampling_steps = 1, 2
    else:
        train, test = load_data()
    model = build_model()
    steps_per_epoch = -(-len(train) // BATCH_SIZE)
    model.compile(optimizer=build_optimizer(epochs * steps_per_epoch))
    prefix = output.rstrip("/") + "_predictions"
    shown = test[:SHOWN_CLIPS]
    model.fit(
        train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        callbacks=[SaveVideos(shown, prefix, 5, sampling_steps)],
    )
    model.save_to_preset(output, description=DESCRIPTION)
    gif, strip = save_pictures(model, shown, prefix, sampling_steps)
    errors = prediction_errors(model, test, sampling_steps)
    print_errors(errors)
    print(f"Saved the preset to {output}/, predictions to {gif} and {strip}")
    return model, errors


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--output",
        default="rin_bouncing_shapes",
        help="preset directory to write",
    )
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    main(args.epochs, args.output, args.mixed_precision, args.smoke)
