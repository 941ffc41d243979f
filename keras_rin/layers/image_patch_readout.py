import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class ImagePatchReadout(keras.layers.Layer):
    """Turns interface tokens back into an image.

    LayerNorm (with scale and shift) -> `Dense(patch * patch * channels)` ->
    patches reshaped into the image (the layout of `depth_to_space`).

    Args:
        patch_size: int, side of the square patches.
        image_shape: tuple `(height, width, channels)` of the output.
        epsilon: float, LayerNorm epsilon.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> readout = ImagePatchReadout(patch_size=2, image_shape=(32, 32, 3))
    >>> readout(keras.random.normal((2, 256, 64))).shape
    (2, 32, 32, 3)
    """

    def __init__(self, patch_size, image_shape, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.image_shape = tuple(image_shape)
        self.epsilon = epsilon
        self.norm = keras.layers.LayerNormalization(
            epsilon=epsilon, dtype=self.dtype_policy, name="norm"
        )
        channels = self.image_shape[-1]
        self.dense = keras.layers.Dense(
            patch_size * patch_size * channels,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.dense.build(input_shape)

    def call(self, tokens):
        height, width, channels = self.image_shape
        p = self.patch_size
        patches = self.dense(self.norm(tokens))
        patches = ops.reshape(
            patches, (-1, height // p, width // p, p, p, channels)
        )
        patches = ops.transpose(patches, (0, 1, 3, 2, 4, 5))
        return ops.reshape(patches, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "image_shape": self.image_shape,
                "epsilon": self.epsilon,
            }
        )
        return config
