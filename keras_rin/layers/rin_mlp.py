import random

import keras

from keras_rin.utils import compiled_function


@keras.saving.register_keras_serializable(package="keras_rin")
class RINMLP(keras.layers.Layer):
    """Pre-LN feed-forward branch: `Dense(GELU(Dense(LN(x))))`.

    Returns the residual branch only; the caller adds it to `x`. Dropout sits
    after the GELU, as in the official implementation.

    Args:
        mlp_ratio: int, hidden width as a multiple of the input width.
        dropout_rate: float in [0, 1), dropout after the activation.
        epsilon: float, LayerNorm epsilon.
        seed: int or None, seed of the dropout masks. None draws one from
            Python's `random` (seeded by `keras.utils.set_random_seed`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> RINMLP(mlp_ratio=4)(keras.random.normal((2, 8, 32))).shape
    (2, 8, 32)
    """

    def __init__(
        self, mlp_ratio=4, dropout_rate=0.0, epsilon=1e-6, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        if mlp_ratio <= 0:
            raise ValueError(
                f"`mlp_ratio` must be positive. Received: mlp_ratio={mlp_ratio}"
            )
        self.mlp_ratio = mlp_ratio
        self.dropout_rate = dropout_rate
        self.epsilon = epsilon
        self.seed = seed
        self.norm = keras.layers.LayerNormalization(
            epsilon=epsilon, dtype=self.dtype_policy, name="norm"
        )
        # An unseeded Dropout on PyTorch draws from torch's global generator,
        # outside the layer's state: a resumed run would draw other masks.
        self.dropout = keras.layers.Dropout(
            dropout_rate,
            seed=random.randint(1, 10**9) if seed is None else seed,
            dtype=self.dtype_policy,
            name="dropout",
        )

    def build(self, input_shape):
        dim = input_shape[-1]
        self.norm.build(input_shape)
        self.hidden_dense = keras.layers.Dense(
            int(dim * self.mlp_ratio), dtype=self.dtype_policy, name="hidden"
        )
        self.hidden_dense.build(input_shape)
        self.output_dense = keras.layers.Dense(
            dim, dtype=self.dtype_policy, name="output"
        )
        self.output_dense.build(input_shape[:-1] + (int(dim * self.mlp_ratio),))

    def call(self, x, training=None):
        hidden = compiled_function.exact_gelu(self.hidden_dense(self.norm(x)))
        if training and self.dropout_rate:
            # The Keras layer holds the seed state; the masks are its own,
            # drawn faster on JAX.
            hidden = compiled_function.dropout(
                hidden, self.dropout_rate, self.dropout.seed_generator
            )
        return self.output_dense(hidden)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mlp_ratio": self.mlp_ratio,
                "dropout_rate": self.dropout_rate,
                "epsilon": self.epsilon,
                "seed": self.seed,
            }
        )
        return config
