"""Evaluate a RIN preset or checkpoint on a data set: FID, Inception Score
and KID for an image model, FVD for a video model, in a JSON report.

    KERAS_BACKEND=jax python examples/evaluate.py --preset my_cifar10 \
        --dataset cifar10 --split test --num-samples 10000
    KERAS_BACKEND=jax python examples/evaluate.py \
        --preset runs/imagenet64/checkpoint \
        --dataset imagenet_resized/64x64 --split validation --num-steps 250
    KERAS_BACKEND=jax python examples/evaluate.py --preset my_images \
        --dataset folder:/data/my_images --inception-weights inception.h5
    KERAS_BACKEND=jax python examples/evaluate.py --preset my_shapes \
        --dataset bouncing_shapes --i3d /models/i3d_kinetics_400

`--preset` takes a preset name, a preset directory (a checkpoint that
`keras_rin.callbacks.PresetCheckpoint` wrote is one) or an `hf://` /
`kaggle://` handle. `--dataset` takes `digits` (scikit-learn's 8x8 digits),
`bouncing_shapes` (procedural clips), `folder:<path>` (a folder of images
or of videos) or any TensorFlow Datasets name (`cifar10`, `imagenet2012`,
`imagenet_resized/64x64`, `ucf101`, ...). The real images are cropped and
resized to the model's size.

Images are scored with Keras' Inception-v3 (`--inception-weights`: its
ImageNet weights, downloaded once, or a local file). These numbers rank
models evaluated the same way but are NOT comparable with published FIDs,
which use the 2015-12-05 TF-GAN Inception graph (see
`keras_rin.metrics.InceptionFeatureExtractor`). Videos are scored with an
I3D network you provide (`--i3d`, a TensorFlow SavedModel): none can be
bundled or downloaded here.

The report holds the metrics, the number of samples, the sampler, its
number of steps, the seed, the guidance scale and the feature extractor;
the first generated samples are saved as a PNG grid (images) or a GIF
(videos) next to it.
"""

import argparse
import datetime
import json
import os
import shlex
import sys
import time

import keras
import numpy as np

import keras_rin
from keras_rin.visualization import save_image_grid
from keras_rin.visualization import save_video_gif

# Hyper-parameters.
NUM_SAMPLES = 10_000
BATCH_SIZE = 250
NUM_STEPS = 100
SAMPLER = "ddpm"
SEED = 0
SAMPLES_TO_SAVE = 64


def load_model(preset):
    model = keras_rin.presets.load_preset(preset)
    if not isinstance(model, keras_rin.RINDiffusionModel):
        raise ValueError(
            f"`--preset` must hold a RIN image generator or video predictor. "
            f"Received a {type(model).__name__} from {preset!r}"
        )
    return model


def is_video(model):
    return isinstance(model, keras_rin.RINVideoPredictor)


# ----------------------------------------------------------------------
# Real data, cropped and resized to the model's size
# ----------------------------------------------------------------------


def real_images(dataset, split, image_shape, batch_size):
    size = image_shape[0]
    if dataset == "digits":
        images, _ = keras_rin.data.load_digits(split)
        return batches_of(images, batch_size)
    if dataset.startswith("folder:"):
        return keras_rin.data.load_image_folder(
            dataset[len("folder:") :],
            size,
            batch_size=batch_size,
            shuffle=False,
            random_flip=False,
            with_labels=False,
            drop_remainder=False,
        )
    return keras_rin.data.load_tfds_images(
        dataset,
        split,
        image_size=size,
        batch_size=batch_size,
        shuffle=False,
        random_flip=False,
        with_labels=False,
        drop_remainder=False,
    )


def real_videos(dataset, split, video_shape, batch_size, num_samples):
    frames, size = video_shape[:2]
    if dataset == "bouncing_shapes":
        # The clips of examples/bouncing_shapes.py's splits (seed 0).
        counts = {"train": (num_samples, 1), "test": (1, num_samples)}
        if split not in counts:
            raise ValueError(
                "`--split` must be 'train' or 'test' for bouncing_shapes. "
                f"Received: {split!r}"
            )
        clips = keras_rin.data.bouncing_shapes_splits(
            *counts[split], seed=0, num_frames=frames, image_size=size
        )[split == "test"]
        return batches_of(clips, batch_size)
    loader_args = dict(
        num_frames=frames, frame_size=size, batch_size=batch_size
    )
    if dataset.startswith("folder:"):
        return keras_rin.data.load_video_folder(
            dataset[len("folder:") :], shuffle=False, **loader_args
        )
    return keras_rin.data.load_tfds_videos(
        dataset, split, shuffle=False, random_start=False, **loader_args
    )


def batches_of(array, batch_size):
    return [
        array[start : start + batch_size]
        for start in range(0, len(array), batch_size)
    ]


def context_batches(videos, num_context_frames):
    for element in videos:
        clips = keras.ops.convert_to_numpy(element)
        yield clips[:, :num_context_frames]


# ----------------------------------------------------------------------
# Feature extractors
# ----------------------------------------------------------------------


def random_image_extractor(channels):
    """A tiny random network: offline smoke tests only, meaningless
    numbers."""
    inputs = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    pool = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(10)(pool)
    return keras.Model(inputs, {"pool": pool, "logits": logits})


def random_video_extractor():
    inputs = keras.Input((None, None, None, 3))
    x = keras.layers.Conv3D(8, 3, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling3D()(x))


# ----------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------


def evaluate_images(model, args, extractor):
    real = real_images(
        args.dataset, args.split, model.backbone.image_shape, args.batch_size
    )
    first_samples = []

    def generated():
        batches = keras_rin.metrics.generated_image_batches(
            model,
            args.num_samples,
            args.batch_size,
            labels="uniform" if model.num_classes else None,
            seed=args.seed,
            **sampling_kwargs(args),
        )
        for images in batches:
            if sum(map(len, first_samples)) < SAMPLES_TO_SAVE:
                first_samples.append(images)
            yield images

    metrics = keras_rin.metrics.compute_image_metrics(
        real,
        generated(),
        args.num_samples,
        metrics=args.metrics,
        feature_extractor=extractor,
    )
    samples = np.concatenate(first_samples)[:SAMPLES_TO_SAVE]
    return metrics, samples


def evaluate_videos(model, args, extractor):
    real = real_videos(
        args.dataset,
        args.split,
        model.backbone.video_shape,
        args.batch_size,
        args.num_samples,
    )
    first_samples = []

    def generated():
        batches = keras_rin.metrics.generated_video_batches(
            model,
            context_batches(real, model.num_context_frames),
            seed=args.seed,
            **sampling_kwargs(args),
        )
        for clips in batches:
            if not first_samples:
                first_samples.append(clips)
            yield clips

    metrics = keras_rin.metrics.compute_video_metrics(
        real, generated(), args.num_samples, feature_extractor=extractor
    )
    return metrics, first_samples[0][:8]


def sampling_kwargs(args):
    return dict(
        num_steps=args.num_steps,
        sampler=args.sampler,
        guidance_scale=args.guidance_scale,
    )


def feature_extractor(model, args):
    """The extractor and the description the report gives of it."""
    if is_video(model):
        if args.smoke:
            return random_video_extractor(), "random Conv3D (smoke test)"
        if not args.i3d:
            raise ValueError(
                "`--i3d` is required for a video model: FVD needs an I3D "
                "network (a TensorFlow SavedModel of I3D trained on "
                "Kinetics-400, e.g. an export of TF-Hub's "
                "deepmind/i3d-kinetics-400), which cannot be bundled."
            )
        return args.i3d, f"I3D from {args.i3d}"
    if args.smoke:
        channels = model.backbone.image_shape[-1]
        return random_image_extractor(channels), "random Conv2D (smoke test)"
    weights = args.inception_weights
    extractor = keras_rin.metrics.InceptionFeatureExtractor(weights=weights)
    return extractor, f"keras.applications.InceptionV3 ({weights})"


def evaluate(args):
    model = load_model(args.preset)
    if args.guidance_scale is None:
        args.guidance_scale = model.guidance_scale
    extractor, extractor_name = feature_extractor(model, args)
    start = time.time()
    if is_video(model):
        metrics, samples = evaluate_videos(model, args, extractor)
    else:
        metrics, samples = evaluate_images(model, args, extractor)
    report = {
        "preset": args.preset,
        "dataset": args.dataset,
        "split": args.split,
        "metrics": {k: v for k, v in metrics.items() if k != "num_samples"},
        "num_samples": metrics["num_samples"],
        "sampler": args.sampler,
        "num_steps": args.num_steps,
        "seed": args.seed,
        "guidance_scale": args.guidance_scale,
        # Class-conditional images cycle through the classes, so every
        # class gets the same number of samples.
        "labels": "uniform" if model.num_classes else None,
        "feature_extractor": extractor_name,
        "backend": keras.config.backend(),
        "keras_rin_version": keras_rin.__version__,
        "seconds": round(time.time() - start, 1),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    save_report(
        report,
        samples,
        args.output,
        model.num_context_frames if is_video(model) else None,
    )
    return report


def save_report(report, samples, output, num_context_frames=None):
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with open(output, "w") as file:
        json.dump(report, file, indent=2)
    stem = os.path.splitext(output)[0]
    if num_context_frames is not None:
        save_video_gif(stem + "_samples.gif", samples, num_context_frames)
    else:
        save_image_grid(samples, stem + "_samples.png", num_columns=8)
    print(json.dumps(report, indent=2))
    print(f"Wrote {output} and the first samples beside it.")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-samples", type=int, default=NUM_SAMPLES)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--num-steps", type=int, default=NUM_STEPS)
    parser.add_argument("--sampler", default=SAMPLER, choices=("ddpm", "ddim"))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--guidance-scale",
        type=float,
        help="classifier-free guidance weight (default: the preset's)",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=["fid", "is", "kid"],
        choices=("fid", "is", "kid"),
        help="image metrics (a video model always gets FVD)",
    )
    parser.add_argument(
        "--inception-weights",
        default="imagenet",
        help='"imagenet" (Keras\' download) or a local weights file',
    )
    parser.add_argument("--i3d", help="path of an I3D SavedModel (FVD)")
    parser.add_argument("--output", default="evaluation.json")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a random feature extractor, offline: for testing only",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        evaluate(parse_args())
    except keras_rin.data.DataUnavailableError as error:
        command = shlex.join(["python", "examples/evaluate.py", *sys.argv[1:]])
        backend = keras.config.backend()
        sys.exit(
            f"{error}\n\nThen run again:\n  KERAS_BACKEND={backend} {command}"
        )
