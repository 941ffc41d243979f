import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class DropPath(keras.layers.Layer):
    """Stochastic depth: drops a whole residual branch per example.

    At training time each example's branch is zeroed with probability `rate`
    and the survivors are scaled by `1 / (1 - rate)`; at inference it is the
    identity.

    Args:
        rate: float in [0, 1), probability of dropping the branch.
        seed: int or None, seed of the layer's `SeedGenerator`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> DropPath(0.1)(keras.ops.ones((4, 8, 16)), training=True).shape
    (4, 8, 16)

    Reference:
    - [Huang et al., 2016](https://arxiv.org/abs/1603.09382)
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator)
        mask = ops.cast(draw < keep, x.dtype)
        return x * mask / ops.cast(keep, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
