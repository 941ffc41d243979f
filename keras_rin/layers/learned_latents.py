import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class LearnedLatents(keras.layers.Layer):
    """The learned initial latents, tiled over the batch.

    Args:
        num_latents: int, number of learned latent slots.
        hidden_dim: int, latent width (`dim_z`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    `call(reference)` returns `(batch, num_latents, hidden_dim)` where the
    batch size is read from `reference`.

    Example:
    >>> LearnedLatents(8, 64)(keras.ops.zeros((2, 5))).shape
    (2, 8, 64)
    """

    def __init__(self, num_latents, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_latents = num_latents
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        self.latents = self.add_weight(
            shape=(self.num_latents, self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="latents",
        )

    def call(self, reference):
        latents = ops.cast(self.latents, self.compute_dtype)[None]
        # Broadcast, not repeated: the batch size stays symbolic when
        # PyTorch exports the graph.
        return ops.broadcast_to(
            latents,
            (ops.shape(reference)[0], self.num_latents, self.hidden_dim),
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_latents, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_latents": self.num_latents, "hidden_dim": self.hidden_dim}
        )
        return config
