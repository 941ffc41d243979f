import keras
from keras import ops

from keras_rin.layers.drop_path import DropPath
from keras_rin.layers.rin_attention import RINAttention
from keras_rin.layers.rin_mlp import RINMLP


@keras.saving.register_keras_serializable(package="keras_rin")
class RINBlock(keras.layers.Layer):
    """One RIN block: read, compute `depth` times, write.

    ```
    read:     z += MHA(q=LN(z), kv=x);  z += MLP(LN(z))
    compute:  z += MHA(LN(z));          z += MLP(LN(z))      (x depth)
    write:    x += MHA(q=LN(x), kv=z);  x += MLP(LN(x))
    ```

    Keys and values of the read and write are not normalised. Read and write
    attend with width `min(dim_x, dim_z)` and `rw_num_heads` heads. Dropout
    (inside the MLPs) and drop-path apply to the compute layers only, as in
    the official implementation.

    Args:
        depth: int, number of latent self-attention layers.
        latent_num_heads: int, heads of latent self-attention.
        rw_num_heads: int, heads of the read and write cross-attention.
        latent_mlp_ratio: int, MLP expansion on the latents.
        interface_mlp_ratio: int, MLP expansion on the interface.
        dropout_rate: float in [0, 1), dropout inside the compute MLPs.
        drop_path_rate: float in [0, 1), stochastic depth on the compute
            layers' residual branches.
        epsilon: float, LayerNorm epsilon.
        rematerialize: bool, recompute the block's activations in the
            backward pass instead of keeping them (`keras.remat`: JAX's
            `jax.checkpoint`, TensorFlow's `recompute_grad`, PyTorch's
            `torch.utils.checkpoint`). Same outputs and gradients, dropout
            masks included; a training pass (`training=True`) then keeps
            one block's activations at a time, for one more forward pass of
            the block in the backward pass.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> block = RINBlock(depth=2, latent_num_heads=4, rw_num_heads=2)
    >>> z, x = block(keras.random.normal((2, 16, 64)),
    ...              keras.random.normal((2, 64, 32)))
    >>> z, x, read = block(keras.random.normal((2, 16, 64)),
    ...                    keras.random.normal((2, 64, 32)),
    ...                    return_read_attention=True)
    >>> read.shape  # a distribution over the 64 interface tokens
    (2, 64)

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    def __init__(
        self,
        depth,
        latent_num_heads,
        rw_num_heads,
        latent_mlp_ratio=4,
        interface_mlp_ratio=4,
        dropout_rate=0.0,
        drop_path_rate=0.0,
        epsilon=1e-6,
        rematerialize=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if depth < 1:
            raise ValueError(f"`depth` must be >= 1. Received: depth={depth}")
        self.depth = depth
        self.latent_num_heads = latent_num_heads
        self.rw_num_heads = rw_num_heads
        self.latent_mlp_ratio = latent_mlp_ratio
        self.interface_mlp_ratio = interface_mlp_ratio
        self.dropout_rate = dropout_rate
        self.drop_path_rate = drop_path_rate
        self.epsilon = epsilon
        self.rematerialize = rematerialize

    def build(self, latents_shape, interface_shape):
        latent_dim = latents_shape[-1]
        interface_dim = interface_shape[-1]
        rw_dim = min(latent_dim, interface_dim)
        policy = self.dtype_policy
        eps = self.epsilon
        self.read_attention = RINAttention(
            self.rw_num_heads, rw_dim, eps, dtype=policy, name="read_attention"
        )
        self.read_attention.build(latents_shape, interface_shape)
        self.read_mlp = RINMLP(
            self.latent_mlp_ratio, epsilon=eps, dtype=policy, name="read_mlp"
        )
        self.read_mlp.build(latents_shape)
        self.compute_attentions = []
        self.compute_mlps = []
        for i in range(self.depth):
            attention = RINAttention(
                self.latent_num_heads,
                latent_dim,
                eps,
                dtype=policy,
                name=f"compute_attention_{i}",
            )
            attention.build(latents_shape)
            mlp = RINMLP(
                self.latent_mlp_ratio,
                self.dropout_rate,
                eps,
                dtype=policy,
                name=f"compute_mlp_{i}",
            )
            mlp.build(latents_shape)
            self.compute_attentions.append(attention)
            self.compute_mlps.append(mlp)
        self.drop_path = DropPath(
            self.drop_path_rate, dtype=policy, name="drop_path"
        )
        self.drop_path.build(latents_shape)
        self.write_attention = RINAttention(
            self.rw_num_heads, rw_dim, eps, dtype=policy, name="write_attention"
        )
        self.write_attention.build(interface_shape, latents_shape)
        self.write_mlp = RINMLP(
            self.interface_mlp_ratio,
            epsilon=eps,
            dtype=policy,
            name="write_mlp",
        )
        self.write_mlp.build(interface_shape)

    def call(
        self,
        latents,
        interface,
        training=None,
        return_read_attention=False,
        latent_mask=None,
    ):
        """Runs the block.

        Args:
            latents: float `(batch, num_latents, latent_dim)`.
            interface: float `(batch, num_tokens, interface_dim)`.
            training: bool, enables dropout and drop-path.
            return_read_attention: bool, also return where the read looked:
                its attention probabilities averaged over heads and over
                latents. The read is then computed explicitly instead of
                with the fused attention (same result up to float
                rounding).
            latent_mask: optional bool `(batch, num_latents)`: latents
                marked False are left out as keys of the latent
                self-attention and of the write, so the active latents and
                the interface come out as if only the active latents
                existed (an elastic forward pass; the inactive rows hold
                values that nothing reads).

        Returns:
            `(latents, interface)`, the updated latents and interface, or
            with `return_read_attention=True` `(latents, interface,
            read_attention)` where `read_attention` is float32 `(batch,
            num_tokens)`, a distribution over the interface tokens.
        """
        generators = self._seed_generators_in_block()

        def run(latents, interface, *seed_states):
            # The recomputation draws the dropout masks of the first pass:
            # the seed states go in as inputs and are restored first, and
            # the advanced states come out as outputs (JAX's transformed
            # function must not leak them as side effects).
            for generator, state in zip(generators, seed_states, strict=True):
                generator.state.assign(state)
            outputs = self._read_compute_write(
                latents,
                interface,
                training,
                return_read_attention,
                latent_mask,
            )
            return outputs, [ops.copy(g.state.value) for g in generators]

        if not (self.rematerialize and training):
            return self._read_compute_write(
                latents, interface, training, return_read_attention, latent_mask
            )
        states = [ops.copy(generator.state.value) for generator in generators]
        outputs, states = keras.remat(run)(latents, interface, *states)
        for generator, state in zip(generators, states, strict=True):
            generator.state.assign(state)
        return outputs

    def _seed_generators_in_block(self):
        """The seed generators of the block's dropout and drop-path."""
        # Keras' Dropout has no generator at rate 0.
        generators = [self.drop_path.seed_generator]
        for mlp in self.compute_mlps:
            generators.append(getattr(mlp.dropout, "seed_generator", None))
        return [g for g in generators if g is not None]

    def _read_compute_write(
        self, latents, interface, training, return_read_attention, latent_mask
    ):
        if return_read_attention:
            read, scores = self.read_attention(
                latents, interface, return_attention_scores=True
            )
            read_attention = ops.mean(scores, axis=(1, 2))
        else:
            read = self.read_attention(latents, interface)
        z = latents + read
        z = z + self.read_mlp(z, training=training)
        for attention, mlp in zip(
            self.compute_attentions, self.compute_mlps, strict=True
        ):
            z = z + self.drop_path(
                attention(z, key_mask=latent_mask), training=training
            )
            z = z + self.drop_path(mlp(z, training=training), training=training)
        x = interface + self.write_attention(interface, z, key_mask=latent_mask)
        x = x + self.write_mlp(x, training=training)
        if return_read_attention:
            return z, x, read_attention
        return z, x

    def compute_output_shape(self, latents_shape, interface_shape):
        return latents_shape, interface_shape

    def compute_output_spec(
        self,
        latents,
        interface,
        training=None,
        return_read_attention=False,
        latent_mask=None,
    ):
        outputs = (
            keras.KerasTensor(latents.shape, dtype=self.compute_dtype),
            keras.KerasTensor(interface.shape, dtype=self.compute_dtype),
        )
        if not return_read_attention:
            return outputs
        read_attention = keras.KerasTensor(
            (interface.shape[0], interface.shape[1]), dtype="float32"
        )
        return outputs + (read_attention,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "latent_num_heads": self.latent_num_heads,
                "rw_num_heads": self.rw_num_heads,
                "latent_mlp_ratio": self.latent_mlp_ratio,
                "interface_mlp_ratio": self.interface_mlp_ratio,
                "dropout_rate": self.dropout_rate,
                "drop_path_rate": self.drop_path_rate,
                "epsilon": self.epsilon,
                "rematerialize": self.rematerialize,
            }
        )
        return config
