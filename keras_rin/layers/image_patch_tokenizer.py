import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class ImagePatchTokenizer(keras.layers.Layer):
    """Turns images into interface tokens.

    `Conv2D(dim, kernel=patch, stride=patch, VALID)` -> flatten to tokens ->
    LayerNorm -> + learned positional embedding (truncated normal, std 0.02).

    Args:
        patch_size: int, side of the square patches.
        hidden_dim: int, width of the interface tokens (`dim_x`).
        epsilon: float, LayerNorm epsilon.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> tokenizer = ImagePatchTokenizer(patch_size=2, hidden_dim=64)
    >>> tokenizer(keras.random.normal((2, 32, 32, 3))).shape
    (2, 256, 64)
    """

    def __init__(self, patch_size, hidden_dim, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.epsilon = epsilon
        self.stem = keras.layers.Conv2D(
            hidden_dim,
            kernel_size=patch_size,
            strides=patch_size,
            padding="valid",
            dtype=self.dtype_policy,
            name="stem",
        )
        self.stem_norm = keras.layers.LayerNormalization(
            epsilon=epsilon, dtype=self.dtype_policy, name="stem_norm"
        )

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        for name, size in [("height", height), ("width", width)]:
            if size is None or size % self.patch_size:
                raise ValueError(
                    f"Image {name} must be divisible by `patch_size`="
                    f"{self.patch_size}. Received image shape "
                    f"{tuple(input_shape[1:])}"
                )
        self.num_tokens = (height // self.patch_size) * (
            width // self.patch_size
        )
        self.stem.build(input_shape)
        self.stem_norm.build((None, self.num_tokens, self.hidden_dim))
        self.position_embedding = self.add_weight(
            shape=(self.num_tokens, self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="position_embedding",
        )

    def call(self, images):
        tokens = self.stem(images)
        tokens = ops.reshape(tokens, (-1, self.num_tokens, self.hidden_dim))
        tokens = self.stem_norm(tokens)
        return tokens + ops.cast(self.position_embedding, tokens.dtype)

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        num_tokens = (height // self.patch_size) * (width // self.patch_size)
        return (input_shape[0], num_tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "epsilon": self.epsilon,
            }
        )
        return config
