import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class NoiseLevelEmbedding(keras.layers.Layer):
    """Embeds the noise level gamma as a latent token.

    Sinusoidal code of `gamma * scaling` with `hidden_dim // 4` features,
    normalised to zero mean and unit standard deviation across features,
    then `Dense(hidden_dim) -> SiLU -> Dense(hidden_dim)`, as in the official
    RIN. Run it in float32 (the backbone does) for precise noise levels.

    Args:
        hidden_dim: int, width of the output token (`dim_z`).
        scaling: float, multiplier of gamma before the sinusoid.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> NoiseLevelEmbedding(64)(keras.ops.array([0.1, 0.9])).shape
    (2, 64)
    """

    def __init__(self, hidden_dim, scaling=1000.0, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim < 8:
            raise ValueError(
                f"`hidden_dim` must be >= 8. Received: hidden_dim={hidden_dim}"
            )
        self.hidden_dim = hidden_dim
        self.scaling = scaling
        self.sinusoid_dim = hidden_dim // 4
        self.dense_hidden = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="dense_hidden"
        )
        self.dense_output = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="dense_output"
        )

    def build(self, input_shape):
        self.dense_hidden.build((None, self.sinusoid_dim))
        self.dense_output.build((None, self.hidden_dim))

    def sinusoid(self, noise_levels):
        half = self.sinusoid_dim // 2
        frequencies = ops.exp(
            -math.log(10000.0) * ops.arange(0, half, dtype="float32") / half
        )
        angles = ops.cast(noise_levels, "float32")[:, None] * self.scaling
        angles = angles * frequencies[None, :]
        code = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        mean = ops.mean(code, axis=-1, keepdims=True)
        std = ops.std(code, axis=-1, keepdims=True)
        return (code - mean) / (std + 1e-6)

    def call(self, noise_levels):
        code = ops.cast(self.sinusoid(noise_levels), self.compute_dtype)
        return self.dense_output(ops.silu(self.dense_hidden(code)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "scaling": self.scaling})
        return config
