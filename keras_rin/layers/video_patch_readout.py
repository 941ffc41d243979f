import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class VideoPatchReadout(keras.layers.Layer):
    """Turns interface tokens back into video clips.

    LayerNorm (with scale and shift) -> `Dense(frames_per_patch * patch *
    patch * channels)` -> the 3-D patches put back in place with a reshape
    and a transpose (`ops.depth_to_space` is 2-D only). The layout inverts
    `VideoPatchTokenizer`: tokens in (time, row, column) order, features in
    (frame, row, column, channel) order, as in the official video model.

    Args:
        patch_size: int, side of the square spatial patches.
        frames_per_patch: int, frames in one patch.
        video_shape: tuple `(frames, height, width, channels)` of the output.
        epsilon: float, LayerNorm epsilon.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> readout = VideoPatchReadout(
    ...     patch_size=4, frames_per_patch=2, video_shape=(16, 64, 64, 3))
    >>> readout(keras.random.normal((2, 2048, 64))).shape
    (2, 16, 64, 64, 3)
    """

    def __init__(
        self, patch_size, frames_per_patch, video_shape, epsilon=1e-6, **kwargs
    ):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.frames_per_patch = frames_per_patch
        self.video_shape = tuple(video_shape)
        self.epsilon = epsilon
        self.norm = keras.layers.LayerNormalization(
            epsilon=epsilon, dtype=self.dtype_policy, name="norm"
        )
        channels = self.video_shape[-1]
        self.dense = keras.layers.Dense(
            frames_per_patch * patch_size * patch_size * channels,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.dense.build(input_shape)

    def call(self, tokens):
        frames, height, width, channels = self.video_shape
        f, p = self.frames_per_patch, self.patch_size
        patches = self.dense(self.norm(tokens))
        patches = ops.reshape(
            patches,
            (-1, frames // f, height // p, width // p, f, p, p, channels),
        )
        patches = ops.transpose(patches, (0, 1, 4, 2, 5, 3, 6, 7))
        return ops.reshape(patches, (-1, frames, height, width, channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.video_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "frames_per_patch": self.frames_per_patch,
                "video_shape": self.video_shape,
                "epsilon": self.epsilon,
            }
        )
        return config
