"""Sample-quality evaluation: FID, IS and KID of images, FVD of videos.

`compute_image_metrics` streams two iterables of image batches (real and
generated) through one feature extractor and feeds the features of each
batch to every requested metric; `generated_image_batches` turns a
`RINImageGenerator` into such an iterable.

```python
results = keras_rin.metrics.compute_image_metrics(
    real=train_dataset,  # a tf.data.Dataset of (images, labels) batches
    generated=keras_rin.metrics.generated_image_batches(
        model, num_samples=50_000, batch_size=500, labels="uniform"
    ),
    num_samples=50_000,
)
# {"fid": ..., "inception_score": ..., "inception_score_std": ...,
#  "kid": ..., "kid_std": ..., "num_samples": 50000}
```

With the default `InceptionFeatureExtractor` (Keras' Inception-v3) the
numbers rank models but are NOT comparable with published ones, which use
the 2015-12-05 TF-GAN / `pytorch-fid` Inception network.
"""

import keras
import numpy as np

from keras_rin.metrics._features import call_feature_extractor
from keras_rin.metrics._features import check_feature_extractor
from keras_rin.metrics._features import check_images
from keras_rin.metrics._features import to_numpy
from keras_rin.metrics.frechet_inception_distance import (
    FrechetInceptionDistance,
)
from keras_rin.metrics.frechet_video_distance import FrechetVideoDistance
from keras_rin.metrics.inception_score import InceptionScore
from keras_rin.metrics.kernel_inception_distance import KernelInceptionDistance
from keras_rin.utils import seeds
from keras_rin.utils import validation

IMAGE_METRICS = ("fid", "is", "kid")


def compute_image_metrics(
    real,
    generated,
    num_samples,
    metrics=("fid", "is", "kid"),
    feature_extractor=None,
    kid_subset_size=1000,
    verbose=1,
):
    """FID, Inception Score and KID of generated images against real ones.

    Each iterable is consumed until `num_samples` images have been seen
    (the last batch is cut). The features of each batch are computed once,
    with one shared extractor, and fed to every requested metric: FID
    (`FrechetInceptionDistance`, streaming moments), KID
    (`KernelInceptionDistance`, 100 subsets of `kid_subset_size`) and IS
    (`InceptionScore`, 10 splits, generated images only: `real` is not
    read when `metrics=("is",)`).

    Args:
        real: iterable of batches of real images, or None when only
            `"is"` is requested. A batch is an array or tensor `(batch,
            height, width, channels)`, float in [0, 1] or uint8 in
            [0, 255], or a tuple / list whose first element is one (e.g.
            `(images, labels)` from a `tf.data.Dataset`), or a dict with an
            `"images"` entry.
        generated: iterable of batches of generated images, same forms
            (e.g. `generated_image_batches(model, ...)`).
        num_samples: int, images taken from each iterable (50,000 in
            papers; FID is biased upwards at small counts, so compare FIDs
            only at equal `num_samples`).
        metrics: sequence of names among `"fid"`, `"is"`, `"kid"`.
        feature_extractor: `keras.Model` or callable mapping images in
            [0, 1] to a dict `{"pool": (batch, dim), "logits": (batch,
            num_classes)}` (or an array, used for both). None: an
            `InceptionFeatureExtractor()` (downloads Keras' ImageNet
            weights once).
        kid_subset_size: int, samples per KID subset (reduced, with a
            warning, when `num_samples` is smaller).
        verbose: 0 or 1, show a progress bar over the `2 * num_samples`
            images (`num_samples` when only IS is requested).

    Returns:
        dict of floats: `"fid"`, `"inception_score"`,
        `"inception_score_std"`, `"kid"`, `"kid_std"` (those requested), and
        `"num_samples"` (int).

    Example:
    ```python
    keras_rin.metrics.compute_image_metrics(
        real=real_batches, generated=generated_batches, num_samples=10_000
    )
    ```
    """
    metrics = _check_metrics(metrics)
    validation.check_positive_int("num_samples", num_samples)
    validation.check_positive_int("kid_subset_size", kid_subset_size)
    check_feature_extractor(feature_extractor)
    _check_verbose(verbose)
    needs_real = "fid" in metrics or "kid" in metrics
    if needs_real and real is None:
        raise ValueError(
            f"`real` is required for {sorted(set(metrics) - {'is'})}. "
            "Received: real=None"
        )
    if feature_extractor is None:
        from keras_rin.metrics.inception_feature_extractor import (
            InceptionFeatureExtractor,
        )

        feature_extractor = InceptionFeatureExtractor()
    fid = FrechetInceptionDistance(feature_extractor)
    kid = KernelInceptionDistance(
        feature_extractor, subset_size=kid_subset_size
    )
    inception_score = InceptionScore(feature_extractor)

    def update(side, outputs):
        if "fid" in metrics:
            getattr(fid, f"update_{side}_features")(outputs)
        if "kid" in metrics:
            getattr(kid, f"update_{side}_features")(outputs)
        if "is" in metrics and side == "generated":
            inception_score.update_logits(outputs)

    sides = (("real", real),) if needs_real else ()
    sides += (("generated", generated),)
    progbar = keras.utils.Progbar(
        len(sides) * num_samples, verbose=verbose, unit_name="image"
    )
    seen_before = 0
    for side, batches in sides:
        for images in _take(batches, num_samples, side, "images"):
            images = check_images(f"{side} images", images)
            update(side, call_feature_extractor(feature_extractor, images))
            seen_before += images.shape[0]
            progbar.update(seen_before)
    results = {}
    if "fid" in metrics:
        results["fid"] = fid.result()
    if "is" in metrics:
        results.update(inception_score.result())
    if "kid" in metrics:
        results.update(kid.result())
    results["num_samples"] = num_samples
    return results


def compute_video_metrics(
    real,
    generated,
    num_samples,
    feature_extractor,
    input_size=(224, 224),
    verbose=1,
):
    """Fréchet Video Distance of generated videos against real ones.

    Each iterable is consumed until `num_samples` videos have been seen
    (the last batch is cut) and fed to a `FrechetVideoDistance`.

    Args:
        real: iterable of batches of real videos: arrays or tensors
            `(batch, frames, height, width, channels)`, float in [0, 1] or
            uint8 in [0, 255], or tuples / lists whose first element is
            one, or dicts with a `"videos"` entry.
        generated: iterable of batches of generated videos, same forms
            (e.g. `generated_video_batches(model, ...)`).
        num_samples: int, videos taken from each iterable.
        feature_extractor: the I3D network: a `keras.Model`, a callable or
            the path of a TensorFlow SavedModel (see
            `FrechetVideoDistance`). Required: none is bundled.
        input_size: tuple `(height, width)` the frames are resized to.
        verbose: 0 or 1, show a progress bar over the `2 * num_samples`
            videos.

    Returns:
        dict `{"fvd": float, "num_samples": int}`.

    Example:
    ```python
    keras_rin.metrics.compute_video_metrics(
        real_batches, generated_batches, num_samples=256,
        feature_extractor="/models/i3d_kinetics_400",
    )
    ```
    """
    fvd = FrechetVideoDistance(feature_extractor, input_size=input_size)
    validation.check_positive_int("num_samples", num_samples)
    _check_verbose(verbose)
    progbar = keras.utils.Progbar(
        2 * num_samples, verbose=verbose, unit_name="video"
    )
    seen_before = 0
    for side, batches in (("real", real), ("generated", generated)):
        update = getattr(fvd, f"update_{side}")
        for videos in _take(batches, num_samples, side, "videos"):
            update(videos)
            seen_before += videos.shape[0]
            progbar.update(seen_before)
    return {"fvd": fvd.result(), "num_samples": num_samples}


def generated_image_batches(
    model, num_samples, batch_size, labels=None, seed=0, **generate_kwargs
):
    """Yields `num_samples` images of `model.generate`, batch by batch.

    A Python generator for `compute_image_metrics(generated=...)`: batch
    `i` is `model.generate(num_images=..., labels=..., seed=s_i,
    verbose=0, **generate_kwargs)`, float32 `(n, height, width,
    channels)` in [0, 1], with `s_i` derived from `(seed, i)` through
    `numpy.random.SeedSequence` (so batches are independent and the whole
    stream is reproducible).

    Args:
        model: a `RINImageGenerator` (or any object with a
            `generate(num_images, labels, seed, verbose, ...)` method and a
            `num_classes` attribute).
        num_samples: int, the total number of images.
        batch_size: int, images per `generate` call (the last may be
            smaller).
        labels: for a class-conditional model, `"uniform"` (classes `0,
            1, ..., num_classes - 1` in turn, so every class gets
            `num_samples / num_classes` images) or a sequence of
            `num_samples` ints; None for an unconditional model.
        seed: int >= 0, or None for unseeded sampling.
        **generate_kwargs: passed to `generate` (e.g. `num_steps=250`,
            `sampler="ddim"`, `guidance_scale=1.5`).

    Yields:
        float32 NumPy arrays of images.

    Example:
    ```python
    batches = keras_rin.metrics.generated_image_batches(
        model, num_samples=50_000, batch_size=500, labels="uniform",
        num_steps=250,
    )
    ```
    """
    validation.check_positive_int("num_samples", num_samples)
    validation.check_positive_int("batch_size", batch_size)
    if seed is not None:
        validation.check_non_negative_int("seed", seed)
    labels = _check_generated_labels(labels, model, num_samples)
    for index, start in enumerate(range(0, num_samples, batch_size)):
        stop = min(start + batch_size, num_samples)
        yield model.generate(
            num_images=stop - start,
            labels=None if labels is None else labels[start:stop].tolist(),
            seed=seeds.batch_seed(seed, index),
            verbose=0,
            **generate_kwargs,
        )


def generated_video_batches(model, context_batches, seed=0, **generate_kwargs):
    """Yields `model.generate(context_frames, ...)` for each batch of
    context frames.

    A Python generator for `compute_video_metrics(generated=...)`. Each
    generated clip starts with its context frames (as
    `RINVideoPredictor.generate` returns them), so FVD compares whole
    clips, as is usual for video prediction.

    Args:
        model: a `RINVideoPredictor`.
        context_batches: iterable of context frames `(batch,
            num_context_frames, height, width, channels)`, or of tuples
            `(context_frames, labels)` for a class-conditional model.
        seed: int >= 0, or None; batch `i` uses a seed derived from
            `(seed, i)` through `numpy.random.SeedSequence`.
        **generate_kwargs: passed to `generate` (e.g. `num_steps`).

    Yields:
        float32 NumPy arrays of clips.

    Example:
    ```python
    contexts = (clips[i : i + 32, :2] for i in range(0, 256, 32))
    batches = keras_rin.metrics.generated_video_batches(model, contexts)
    ```
    """
    if seed is not None:
        validation.check_non_negative_int("seed", seed)
    for index, element in enumerate(context_batches):
        labels = None
        if isinstance(element, (tuple, list)):
            if len(element) != 2:
                raise ValueError(
                    "Each element of `context_batches` must be context "
                    "frames or a tuple (context_frames, labels). Received "
                    f"a {type(element).__name__} of {len(element)} elements"
                )
            element, labels = element
            labels = to_numpy(labels)
        yield model.generate(
            to_numpy(element),
            labels=labels,
            seed=seeds.batch_seed(seed, index),
            verbose=0,
            **generate_kwargs,
        )


def _check_metrics(metrics):
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics or any(m not in IMAGE_METRICS for m in metrics):
        raise ValueError(
            f"`metrics` must be a non-empty sequence of names among "
            f"{IMAGE_METRICS}. Received: metrics={metrics!r}"
        )
    return metrics


def _check_verbose(verbose):
    if verbose not in (0, 1):
        raise ValueError(f"`verbose` must be 0 or 1. Received: {verbose!r}")


def _take(batches, num_samples, side, key):
    """Batches of `batches` (their data part, as NumPy), cut after
    `num_samples` examples."""
    if batches is None or not hasattr(batches, "__iter__"):
        raise ValueError(
            f"`{side}` must be an iterable of batches of {key}. Received: "
            f"{side}={batches!r}"
        )
    seen = 0
    for element in batches:
        if isinstance(element, (tuple, list)):
            element = element[0]
        elif isinstance(element, dict):
            if key not in element:
                raise ValueError(
                    f'Each dict of `{side}` must have an "{key}" entry. '
                    f"Received keys {sorted(element)}"
                )
            element = element[key]
        data = to_numpy(element)
        if data.ndim == 0:
            raise ValueError(
                f"Each element of `{side}` must be a batch of {key}. "
                f"Received a scalar"
            )
        data = data[: num_samples - seen]
        if data.shape[0] == 0:
            continue
        seen += data.shape[0]
        yield data
        if seen >= num_samples:
            return
    raise ValueError(
        f"`{side}` must yield at least num_samples={num_samples} {key}. "
        f"It ended after {seen}."
    )


def _check_generated_labels(labels, model, num_samples):
    num_classes = getattr(model, "num_classes", None)
    if not num_classes:
        if labels is not None:
            raise ValueError(
                "`labels` must be None: the model is unconditional "
                f"(num_classes={num_classes}). Received: labels={labels!r}"
            )
        return None
    if labels is None:
        raise ValueError(
            f"`labels` are required: the model is class-conditional "
            f"(num_classes={num_classes}). Pass labels='uniform' to cycle "
            "through the classes, or one label per sample."
        )
    if isinstance(labels, str):
        if labels != "uniform":
            raise ValueError(
                '`labels` must be None, "uniform" or a sequence of '
                f"num_samples ints. Received: labels={labels!r}"
            )
        return np.arange(num_samples) % num_classes
    labels = to_numpy(labels)
    if labels.shape != (num_samples,) or not np.issubdtype(
        labels.dtype, np.integer
    ):
        raise ValueError(
            f"`labels` must be a sequence of num_samples={num_samples} "
            f"ints. Received an array of shape {labels.shape} and dtype "
            f"{labels.dtype}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"`labels` must lie in [0, num_classes={num_classes}). "
            f"Received values in [{labels.min()}, {labels.max()}]"
        )
    return labels
