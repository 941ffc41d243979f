import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class ClassEmbedding(keras.layers.Layer):
    """Embeds a class label as a latent token: `Dense(one_hot(label))`.

    A negative label means "no class" (used for classifier-free guidance):
    its one-hot code is all zeros, so the token is the Dense bias alone and
    no extra parameters are needed.

    Args:
        num_classes: int, number of classes.
        hidden_dim: int, width of the output token (`dim_z`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> ClassEmbedding(10, 64)(keras.ops.array([3, -1])).shape
    (2, 64)
    """

    def __init__(self, num_classes, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.dense = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="dense"
        )

    def build(self, input_shape):
        self.dense.build((None, self.num_classes))

    def call(self, labels):
        labels = ops.cast(labels, "int32")
        one_hot = ops.one_hot(
            ops.maximum(labels, 0), self.num_classes, dtype=self.compute_dtype
        )
        keep = ops.cast(labels >= 0, self.compute_dtype)[:, None]
        return self.dense(one_hot * keep)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_classes": self.num_classes, "hidden_dim": self.hidden_dim}
        )
        return config
