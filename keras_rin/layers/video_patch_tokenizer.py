import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class VideoPatchTokenizer(keras.layers.Layer):
    """Turns video clips into interface tokens.

    `Conv3D(dim, kernel=stride=(frames_per_patch, patch, patch), VALID)` ->
    flatten to tokens in (time, row, column) order -> LayerNorm -> + learned
    positional embedding (truncated normal, std 0.02), as the official video
    model does.

    Args:
        patch_size: int, side of the square spatial patches.
        frames_per_patch: int, frames in one patch (the temporal patch size).
        hidden_dim: int, width of the interface tokens (`dim_x`).
        epsilon: float, LayerNorm epsilon.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> tokenizer = VideoPatchTokenizer(
    ...     patch_size=4, frames_per_patch=2, hidden_dim=64)
    >>> tokenizer(keras.random.normal((2, 16, 64, 64, 3))).shape
    (2, 2048, 64)
    """

    def __init__(
        self, patch_size, frames_per_patch, hidden_dim, epsilon=1e-6, **kwargs
    ):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.frames_per_patch = frames_per_patch
        self.hidden_dim = hidden_dim
        self.epsilon = epsilon
        self.stem = keras.layers.Conv3D(
            hidden_dim,
            kernel_size=self._patch_shape,
            strides=self._patch_shape,
            padding="valid",
            dtype=self.dtype_policy,
            name="stem",
        )
        self.stem_norm = keras.layers.LayerNormalization(
            epsilon=epsilon, dtype=self.dtype_policy, name="stem_norm"
        )

    @property
    def _patch_shape(self):
        return (self.frames_per_patch, self.patch_size, self.patch_size)

    def build(self, input_shape):
        clip_shape = tuple(input_shape[1:4])
        for name, size, patch in zip(
            ("frames", "height", "width"),
            clip_shape,
            self._patch_shape,
            strict=True,
        ):
            if size is None or size % patch:
                raise ValueError(
                    f"Video {name} must be divisible by the patch "
                    f"{self._patch_shape} (frames, height, width). "
                    f"Received video shape {tuple(input_shape[1:])}"
                )
        self.num_tokens = _num_tokens(clip_shape, self._patch_shape)
        self.stem.build(input_shape)
        self.stem_norm.build((None, self.num_tokens, self.hidden_dim))
        self.position_embedding = self.add_weight(
            shape=(self.num_tokens, self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="position_embedding",
        )

    def call(self, videos):
        tokens = self.stem(videos)
        tokens = ops.reshape(tokens, (-1, self.num_tokens, self.hidden_dim))
        tokens = self.stem_norm(tokens)
        return tokens + ops.cast(self.position_embedding, tokens.dtype)

    def compute_output_shape(self, input_shape):
        num_tokens = _num_tokens(input_shape[1:4], self._patch_shape)
        return (input_shape[0], num_tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "frames_per_patch": self.frames_per_patch,
                "hidden_dim": self.hidden_dim,
                "epsilon": self.epsilon,
            }
        )
        return config


def _num_tokens(clip_shape, patch_shape):
    count = 1
    for size, patch in zip(clip_shape, patch_shape, strict=True):
        count *= size // patch
    return count
