import os

import keras
import numpy as np

from keras_rin.metrics._features import call_feature_extractor
from keras_rin.metrics._features import select_features
from keras_rin.metrics._features import unit_pixels
from keras_rin.metrics._frechet_metric import FrechetMetric
from keras_rin.utils import validation

I3D_HELP = (
    "FVD needs an I3D video network (Carreira and Zisserman, 2017) trained "
    "on Kinetics-400; none is bundled with keras-rin or downloaded by it. "
    "Pass as `feature_extractor` either a `keras.Model` / callable or the "
    "path of a TensorFlow SavedModel directory (e.g. an export of the "
    "TF-Hub module `deepmind/i3d-kinetics-400`, loadable with "
    "`tf.saved_model.load`) that maps float32 videos `(batch, frames, "
    "height, width, 3)` at `input_size` (224 x 224) with values in [-1, 1] "
    "to features `(batch, dim)` (the 400 Kinetics logits for the reference "
    "FVD)."
)


class FrechetVideoDistance(FrechetMetric):
    """Fréchet Video Distance (FVD), accumulated batch by batch.

    FVD is the Fréchet distance between Gaussians fitted to the features of
    real and of generated videos under a video classifier: in the
    reference FVD (Unterthiner et al., 2018,
    `google-research/frechet_video_distance`) the Kinetics-400 logits of
    the I3D network, with every frame resized bilinearly to 224 x 224 and
    the values scaled to [-1, 1] (the range the reference feeds to I3D).
    This metric does that preprocessing (with `keras.ops.image.resize`,
    which uses half-pixel centres where the reference's TF1
    `resize_bilinear` does not) and feeds the videos to
    `feature_extractor`. Like `FrechetInceptionDistance` it keeps only a
    `StreamingMoments` per side (O(dim^2) memory), never the videos or
    the features.

    No I3D network is bundled or downloadable here, so `feature_extractor`
    is required. FVD is only comparable with published numbers when it is
    the reference I3D, with the same number of videos, frames and
    resolution.

    Args:
        feature_extractor: one of
            - a `keras.Model` (run with `predict_on_batch`) or a callable
              mapping float32 videos `(batch, frames, height, width, 3)` at
              `input_size`, scaled to [-1, 1], to an array `(batch, dim)`
              (or a dict with a single such entry);
            - a str path to a TensorFlow SavedModel directory with the same
              contract, e.g. an export of the TF-Hub module
              `deepmind/i3d-kinetics-400` (whose `"default"` signature
              returns the 400 logits; we could not try it, having no copy
              of it). It is loaded on first use with
              `tf.saved_model.load` and called through its
              `"serving_default"` or `"default"` signature (or as a
              callable); inputs and outputs go through NumPy, so it works
              under every Keras backend as long as TensorFlow is installed.
              (On a GPU under JAX or PyTorch, set
              `TF_FORCE_GPU_ALLOW_GROWTH=true` so that TensorFlow does not
              take the device's memory.)
        input_size: tuple `(height, width)` the frames are resized to.

    Example:
    ```python
    fvd = keras_rin.metrics.FrechetVideoDistance("/models/i3d_kinetics_400")
    fvd.update_real(real_videos)  # (batch, 16, 64, 64, 3) in [0, 1]
    fvd.update_generated(model.generate(context_frames, seed=0))
    fvd.result()
    ```

    Reference:
    - [Unterthiner et al., 2018](https://arxiv.org/abs/1812.01717)
    - [Carreira and Zisserman, 2017](https://arxiv.org/abs/1705.07750)
    """

    metric_name = "FVD"
    examples = "videos"
    feature_key = None

    def __init__(self, feature_extractor, input_size=(224, 224)):
        if feature_extractor is None:
            raise ValueError(f"{I3D_HELP} Received: feature_extractor=None")
        if isinstance(feature_extractor, (str, os.PathLike)):
            path = os.fspath(feature_extractor)
            if not os.path.isdir(path):
                raise ValueError(
                    "`feature_extractor` must be a `keras.Model`, a "
                    "callable or the path of a TensorFlow SavedModel "
                    f"directory. No directory at: feature_extractor={path!r}"
                )
            feature_extractor = _SavedModelFeatureExtractor(path)
        elif not callable(feature_extractor):
            raise ValueError(
                f"{I3D_HELP} Received: feature_extractor={feature_extractor!r}"
            )
        input_size = _check_input_size(input_size)
        self.feature_extractor = feature_extractor
        self.input_size = input_size
        self._reset_moments()

    def preprocess(self, videos):
        """Videos, float in [0, 1] or uint8 in [0, 255], shaped `(batch,
        frames, height, width, channels)` with 1 (repeated to RGB) or 3
        channels, as the extractor's input: float32 NumPy `(batch, frames,
        *input_size, 3)` in [-1, 1]."""
        videos = unit_pixels(
            "videos", videos, 5, "(batch, frames, height, width, channels)"
        )
        if videos.shape[-1] not in (1, 3):
            raise ValueError(
                "`videos` must have 1 (grey) or 3 (RGB) channels. Received "
                f"shape {videos.shape}"
            )
        batch, frames, height, width, channels = videos.shape
        if (height, width) != self.input_size:
            resized = keras.ops.image.resize(
                keras.ops.convert_to_tensor(
                    videos.reshape(batch * frames, height, width, channels)
                ),
                self.input_size,
                interpolation="bilinear",
            )
            videos = keras.ops.convert_to_numpy(resized).reshape(
                (batch, frames) + self.input_size + (channels,)
            )
        if channels == 1:
            videos = np.repeat(videos, 3, axis=-1)
        return videos * 2.0 - 1.0

    def _video_features(self, videos):
        inputs = self.preprocess(videos)
        outputs = call_feature_extractor(self.feature_extractor, inputs)
        if isinstance(outputs, dict):
            if len(outputs) != 1:
                raise ValueError(
                    "`feature_extractor` must return an array (batch, dim) "
                    "or a dict with a single entry. Received a dict with "
                    f"keys {sorted(outputs)}"
                )
            (outputs,) = outputs.values()
        return select_features(
            outputs,
            None,
            name="the output of `feature_extractor`",
            num_examples=inputs.shape[0],
        )

    def update_real(self, videos):
        """Adds a batch of real videos: float in [0, 1] or uint8 in
        [0, 255], shaped `(batch, frames, height, width, channels)`."""
        self.update_real_features(self._video_features(videos))

    def update_generated(self, videos):
        """Adds a batch of generated videos (same format as
        `update_real`)."""
        self.update_generated_features(self._video_features(videos))


def _check_input_size(input_size):
    if (
        not isinstance(input_size, (tuple, list))
        or len(input_size) != 2
        or not all(validation.is_int(s) and s > 0 for s in input_size)
    ):
        raise ValueError(
            "`input_size` must be a tuple of 2 positive ints (height, "
            f"width). Received: input_size={input_size!r}"
        )
    return tuple(int(s) for s in input_size)


class _SavedModelFeatureExtractor:
    """A TensorFlow SavedModel as a NumPy-in, NumPy-out callable, loaded
    on first call."""

    def __init__(self, path):
        self.path = path
        self._function = None

    def _load(self):
        try:
            import tensorflow as tf
        except ImportError as error:
            raise ValueError(
                "`feature_extractor` is the path of a TensorFlow SavedModel "
                f"({self.path!r}), which needs TensorFlow installed (it "
                "works under any Keras backend): `pip install tensorflow`."
            ) from error
        loaded = tf.saved_model.load(self.path)
        signatures = getattr(loaded, "signatures", {})
        for key in ("serving_default", "default"):
            if key in signatures:
                signature = signatures[key]
                args, kwargs = signature.structured_input_signature
                if args or len(kwargs) != 1:
                    raise ValueError(
                        f"The `{key}` signature of the SavedModel at "
                        f"{self.path!r} must take a single video input. "
                        f"Received inputs {args} {kwargs}"
                    )
                ((name, spec),) = kwargs.items()

                def function(videos, signature=signature, name=name, spec=spec):
                    return signature(
                        **{name: tf.convert_to_tensor(videos, spec.dtype)}
                    )

                return loaded, function
        if callable(loaded):
            return loaded, lambda videos: loaded(tf.convert_to_tensor(videos))
        raise ValueError(
            f"The SavedModel at {self.path!r} has no `serving_default` or "
            "`default` signature and is not callable. Received signatures: "
            f"{sorted(signatures)}"
        )

    def __call__(self, videos):
        if self._function is None:
            # Keep the loaded object alive: the signature refers to it.
            self._loaded, self._function = self._load()
        outputs = self._function(np.asarray(videos, dtype="float32"))
        if isinstance(outputs, dict):
            if len(outputs) == 1:
                (outputs,) = outputs.values()
            elif "default" in outputs:
                outputs = outputs["default"]
            else:
                raise ValueError(
                    f"The SavedModel at {self.path!r} returns several "
                    f"outputs {sorted(outputs)}; it must return one "
                    '(or one named "default").'
                )
        return np.asarray(outputs.numpy())
