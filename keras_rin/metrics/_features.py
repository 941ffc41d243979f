"""Input checks and feature extraction shared by the sample-quality metrics.

The feature-extractor protocol: an image metric takes any `keras.Model` or
Python callable that maps a batch of images, float32 `(batch, height,
width, channels)` in [0, 1], to either an array `(batch, dim)` or a dict
with a `"pool"` entry `(batch, dim)` (the features of FID and KID) and/or
a `"logits"` entry `(batch, num_classes)` (the class logits of the
Inception Score). An array output serves as both. A `keras.Model` is run
through `predict_on_batch` (compiled on every backend), any other callable
is called directly; outputs may be NumPy arrays or backend tensors.
"""

import keras
import numpy as np

from keras_rin.utils import validation


def to_numpy(x):
    """A backend tensor, `tf.Tensor` or array-like as a NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    if keras.ops.is_tensor(x):
        return keras.ops.convert_to_numpy(x)
    if hasattr(x, "numpy") and callable(x.numpy):
        # e.g. a `tf.Tensor` under another backend.
        return np.asarray(x.numpy())
    return np.asarray(x)


def unit_pixels(name, data, rank, layout):
    """`data` (images or videos) as float32 NumPy in [0, 1], after
    `keras_rin.utils.validation.check_pixels` (float in [0, 1] or uint8 in
    [0, 255], of rank `rank`, at least one example)."""
    data = validation.check_pixels(name, to_numpy(data), rank, layout)
    return np.clip(validation.pixels_to_float32(data), 0.0, 1.0)


def check_images(name, images):
    return unit_pixels(name, images, 4, "(batch, height, width, channels)")


def check_feature_extractor(extractor, name="feature_extractor"):
    if extractor is not None and not callable(extractor):
        raise ValueError(
            f"`{name}` must be None, a `keras.Model` or a callable that "
            "maps a batch of images to features. Received: "
            f"{name}={extractor!r}"
        )


def call_feature_extractor(extractor, inputs):
    """Runs `extractor` on one batch: a float64 NumPy array, or a dict of
    them when the extractor returns a dict."""
    if isinstance(extractor, keras.Model):
        outputs = extractor.predict_on_batch(inputs)
    else:
        outputs = extractor(inputs)
    if isinstance(outputs, dict):
        return {
            key: to_numpy(value).astype("float64")
            for key, value in outputs.items()
        }
    if isinstance(outputs, (list, tuple)):
        raise ValueError(
            "The feature extractor must return an array (batch, dim) or a "
            'dict with "pool" and/or "logits" entries. Received a '
            f"{type(outputs).__name__} of {len(outputs)} outputs"
        )
    return to_numpy(outputs).astype("float64")


def select_features(outputs, key, name="features", num_examples=None):
    """The `key` entry of a dict of features (or the array itself) as a
    float64 array `(batch, dim)` of finite numbers; `key=None` accepts
    arrays only."""
    if isinstance(outputs, dict):
        if key is None:
            raise ValueError(
                f"`{name}` must be an array (batch, dim). Received a dict "
                f"with keys {sorted(outputs)}"
            )
        if key not in outputs:
            raise ValueError(
                f'`{name}` must hold a "{key}" entry. Received a dict with '
                f"keys {sorted(outputs)}"
            )
        outputs = outputs[key]
    features = np.asarray(to_numpy(outputs), dtype="float64")
    if features.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array (batch, dim). Received shape "
            f"{features.shape}"
        )
    if num_examples is not None and features.shape[0] != num_examples:
        raise ValueError(
            f"`{name}` must have one row per input ({num_examples}). "
            f"Received shape {features.shape}"
        )
    if not np.all(np.isfinite(features)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return features


class FeatureMetric:
    """Holds an image feature extractor, the default one built lazily."""

    def __init__(self, feature_extractor=None, name="feature_extractor"):
        check_feature_extractor(feature_extractor, name)
        self._feature_extractor = feature_extractor
        self._feature_extractor_name = name

    @property
    def feature_extractor(self):
        """The feature extractor; `None` at construction gives an
        `InceptionFeatureExtractor()`, built on first use."""
        if self._feature_extractor is None:
            from keras_rin.metrics.inception_feature_extractor import (
                InceptionFeatureExtractor,
            )

            self._feature_extractor = InceptionFeatureExtractor()
        return self._feature_extractor

    def _image_features(self, images, key, name="images"):
        images = check_images(name, images)
        outputs = call_feature_extractor(self.feature_extractor, images)
        return select_features(
            outputs,
            key,
            name=f"the output of `{self._feature_extractor_name}`",
            num_examples=images.shape[0],
        )


class PoolFeatureMetric(FeatureMetric):
    """An image metric that compares the `"pool"` features of real and of
    generated images (FID, KID); subclasses define
    `update_real_features` and `update_generated_features`."""

    def update_real(self, images):
        """Adds a batch of real images: float in [0, 1] or uint8 in
        [0, 255], shaped `(batch, height, width, channels)`."""
        self.update_real_features(self._image_features(images, "pool"))

    def update_generated(self, images):
        """Adds a batch of generated images (same format as
        `update_real`)."""
        self.update_generated_features(self._image_features(images, "pool"))
