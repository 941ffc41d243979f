"""Inception-v3 features for FID, KID and the Inception Score.

Not the reference network: the numbers of papers (TF-GAN, the original
TTUR code, `pytorch-fid`, `torch-fidelity`, `clean-fid`) come from the
2015-12-05 Inception graph (`pt_inception-2015-12-05`, 1008 classes) with
its own weights and resizing, whereas `InceptionFeatureExtractor` uses
Keras' `keras.applications.InceptionV3` (1000 ImageNet classes, other
weights) and `keras.ops.image.resize`. FID, KID and IS computed with it
compare models evaluated with this same extractor, but are NOT comparable
with published numbers.
We could not measure the gap: neither network can be downloaded where
this was written. To reproduce published numbers, pass a port of the
reference network as `feature_extractor` (any model that maps images in
[0, 1] to `{"pool": (batch, 2048), "logits": (batch, 1008)}`).
"""

import os
import warnings

import keras
import numpy as np

from keras_rin.metrics._features import check_images
from keras_rin.utils import validation
from keras_rin.utils.compiled_function import compile_inference_function

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/"
    f"inception_v3/{WEIGHTS_FILE}"
)


class InceptionFeatureExtractor:
    """Inception-v3 pool features and class logits of a batch of images.

    Wraps `keras.applications.InceptionV3(include_top=True,
    classifier_activation=None)`. For images, float in [0, 1] or uint8 in
    [0, 255], shaped `(batch, height, width, channels)` with 1 (repeated to
    RGB) or 3 channels, it returns NumPy float32 arrays
    `{"pool": (batch, 2048), "logits": (batch, 1000)}`: the global average
    pool before the classifier (the features of FID and KID) and the
    ImageNet logits (for the Inception Score). The images are resized
    bilinearly (`keras.ops.image.resize`, no antialiasing) to
    `image_size x image_size` and scaled to [-1, 1] as Inception expects,
    inside one compiled function (XLA on JAX and TensorFlow, no-grad on
    PyTorch), `batch_size` images per call.

    These are NOT the features of the reference FID/IS network (the
    2015-12-05 TF-GAN / `pytorch-fid` Inception graph: 1008 classes,
    different weights and resizing), so FID, KID and IS computed with this
    extractor are not comparable to numbers in papers, only with each
    other. The size of the gap is unknown: neither network could be
    downloaded where this was written, so it was not measured.

    Args:
        weights: `"imagenet"` (Keras' standard ImageNet weights, downloaded
            once into `~/.keras/models`), a path to a local weights file of
            `InceptionV3(include_top=True)` (e.g. a copy of
            `inception_v3_weights_tf_dim_ordering_tf_kernels.h5`), or None
            for a random initialisation, which only suits tests: its
            numbers are meaningless.
        image_size: int >= 75, the side images are resized to. Must be 299
            (Inception's) with `weights="imagenet"`.
        batch_size: int, images per compiled call. Larger inputs are
            split into chunks of this size (the last one zero-padded, so
            that they all run one compiled program); smaller ones run at
            their own size (one compilation per new size).

    Example:
    ```python
    extractor = keras_rin.metrics.InceptionFeatureExtractor()
    outputs = extractor(images)  # {"pool": (n, 2048), "logits": (n, 1000)}
    fid = keras_rin.metrics.FrechetInceptionDistance(extractor)
    ```

    Reference:
    - [Szegedy et al., 2016](https://arxiv.org/abs/1512.00567)
    - [Heusel et al., 2017](https://arxiv.org/abs/1706.08500) (FID)
    """

    def __init__(self, weights="imagenet", image_size=299, batch_size=64):
        validation.check_positive_int("image_size", image_size)
        validation.check_positive_int("batch_size", batch_size)
        if image_size < 75:
            raise ValueError(
                "`image_size` must be at least 75 (Inception-v3's smallest "
                f"input). Received: image_size={image_size}"
            )
        if weights is not None and not isinstance(weights, (str, os.PathLike)):
            raise ValueError(
                '`weights` must be "imagenet", a path to a weights file or '
                f"None. Received: weights={weights!r}"
            )
        if weights == "imagenet" and image_size != 299:
            raise ValueError(
                '`image_size` must be 299 with weights="imagenet". '
                f"Received: image_size={image_size}"
            )
        if weights not in (None, "imagenet"):
            weights = os.fspath(weights)
            if not os.path.isfile(weights):
                raise ValueError(
                    '`weights` must be "imagenet", None or the path to an '
                    "existing weights file of `keras.applications."
                    "InceptionV3(include_top=True)`. No file at: "
                    f"weights={weights!r}"
                )
        if weights is None:
            warnings.warn(
                "InceptionFeatureExtractor(weights=None): the network is "
                "randomly initialised, so FID, KID and IS computed with it "
                "are meaningless (use it for tests only).",
                stacklevel=2,
            )
        self.weights = weights
        self.image_size = image_size
        self.batch_size = batch_size
        self.model = _build_model(weights, image_size)
        self._predict = compile_inference_function(
            self._preprocess_and_call, self.model.variables
        )

    def _preprocess_and_call(self, images):
        images = preprocess_images(images, self.image_size)
        return self.model(images, training=False)

    def __call__(self, images):
        """Features of a batch of images.

        Args:
            images: float in [0, 1] or uint8 in [0, 255], shaped `(batch,
                height, width, channels)` with 1 or 3 channels.

        Returns:
            dict of float32 NumPy arrays `{"pool": (batch, 2048),
            "logits": (batch, 1000)}`.
        """
        images = check_images("images", images)
        if images.shape[-1] not in (1, 3):
            raise ValueError(
                "`images` must have 1 (grey) or 3 (RGB) channels. "
                f"Received shape {images.shape}"
            )
        num_images = images.shape[0]
        chunks = []
        for start in range(0, num_images, self.batch_size):
            chunk = images[start : start + self.batch_size]
            if num_images > self.batch_size:
                # Pad the last chunk so that all chunks share one compiled
                # shape.
                padding = self.batch_size - chunk.shape[0]
                chunk = np.pad(chunk, [(0, padding), (0, 0), (0, 0), (0, 0)])
            outputs = self._predict(chunk)
            chunks.append(
                {
                    key: keras.ops.convert_to_numpy(value)
                    for key, value in outputs.items()
                }
            )
        return {
            key: np.concatenate([chunk[key] for chunk in chunks])[:num_images]
            for key in ("pool", "logits")
        }


def preprocess_images(images, image_size):
    """Inception-v3's input: images in [0, 1] (a tensor `(batch, height,
    width, 1 or 3)`) resized bilinearly to `image_size`, repeated to RGB
    and scaled to [-1, 1]."""
    size = (image_size, image_size)
    if tuple(images.shape[1:3]) != size:
        images = keras.ops.image.resize(images, size, interpolation="bilinear")
    if images.shape[-1] == 1:
        images = keras.ops.repeat(images, 3, axis=-1)
    return images * 2.0 - 1.0


def _build_model(weights, image_size):
    kwargs = dict(
        include_top=True,
        input_shape=(image_size, image_size, 3),
        classifier_activation=None,
    )
    if weights == "imagenet":
        try:
            base = keras.applications.InceptionV3(weights="imagenet", **kwargs)
        except Exception as error:
            raise RuntimeError(
                "Could not download the ImageNet weights of "
                f"InceptionV3 ({error}). Fetch {WEIGHTS_URL} on a machine "
                f"with network access, copy it to ~/.keras/models/"
                f"{WEIGHTS_FILE} (Keras' cache), or pass its local path as "
                "`InceptionFeatureExtractor(weights=path)`."
            ) from error
    else:
        base = keras.applications.InceptionV3(weights=weights, **kwargs)
    return keras.Model(
        base.input,
        {"pool": base.get_layer("avg_pool").output, "logits": base.output},
        name="inception_feature_extractor",
    )
