import keras

from keras_rin.layers.rin_mlp import RINMLP


@keras.saving.register_keras_serializable(package="keras_rin")
class LatentSelfConditioning(keras.layers.Layer):
    """Maps previous latents to a warm start for the current ones.

    `prev = prev + MLP(LN(prev))`, then `LN0(prev)` where `LN0` is a
    LayerNorm whose scale and bias start at zero, so the path is a no-op at
    initialisation. The caller adds the result to every latent slot (time
    and class tokens included).

    Args:
        mlp_ratio: int, expansion of the residual MLP.
        epsilon: float, LayerNorm epsilon.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> layer = LatentSelfConditioning()
    >>> layer(keras.random.normal((2, 8, 64))).shape
    (2, 8, 64)

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972), Section 2.3.
    """

    def __init__(self, mlp_ratio=4, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.mlp_ratio = mlp_ratio
        self.epsilon = epsilon
        self.mlp = RINMLP(
            mlp_ratio, epsilon=epsilon, dtype=self.dtype_policy, name="mlp"
        )
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=epsilon,
            gamma_initializer="zeros",
            beta_initializer="zeros",
            dtype=self.dtype_policy,
            name="output_norm",
        )

    def build(self, input_shape):
        self.mlp.build(input_shape)
        self.output_norm.build(input_shape)

    def call(self, previous_latents):
        previous_latents = previous_latents + self.mlp(previous_latents)
        return self.output_norm(previous_latents)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mlp_ratio": self.mlp_ratio, "epsilon": self.epsilon})
        return config
