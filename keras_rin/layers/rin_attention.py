import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rin")
class RINAttention(keras.layers.Layer):
    """Multi-head attention with LayerNorm on the queries only.

    `call(query)` is self-attention on `LN(query)` (queries, keys and values
    all normalised, as in a pre-LN Transformer); `call(query, context)` is
    cross-attention from `LN(query)` to the un-normalised `context`, as in the
    read and write operations of the official RIN. The layer returns the
    attention output projected back to the query width; the caller adds the
    residual.

    The kernels are 2-D `Dense` kernels but start as the official code's
    `tf.keras.layers.MultiHeadAttention` kernels do: Glorot-uniform with
    the fans of the 3-D kernels `(dim_in, heads, head_dim)` and `(heads,
    head_dim, dim_out)`, so several times smaller than a 2-D Glorot.

    The attention core runs through `keras.ops.dot_product_attention` so that
    fused kernels are used where the backend has them. Under a mixed
    precision policy its queries, keys and values stay in the compute dtype
    (bf16), which the fused GPU and TPU kernels need; every backend's
    kernel accumulates the products and computes the softmax in float32
    (tested against the float32 layer to bf16 precision). With
    `return_attention_scores=True` the attention is computed explicitly in
    float32 and its probabilities are returned as well (for
    inspection).

    Args:
        num_heads: int, number of attention heads.
        attention_dim: int, total width of queries/keys/values, split evenly
            over the heads. The official RIN uses `min(dim_x, dim_z)` for
            read and write and `dim_z` for latent self-attention.
        epsilon: float, LayerNorm epsilon.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> attention = RINAttention(num_heads=4, attention_dim=64)
    >>> latents = keras.random.normal((2, 16, 64))
    >>> tokens = keras.random.normal((2, 256, 32))
    >>> attention(latents, tokens).shape
    (2, 16, 64)
    >>> output, scores = attention(
    ...     latents, tokens, return_attention_scores=True)
    >>> scores.shape  # (batch, heads, latents, tokens), rows sum to 1
    (2, 4, 16, 256)

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    def __init__(self, num_heads, attention_dim, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if num_heads <= 0 or attention_dim % num_heads:
            raise ValueError(
                "`attention_dim` must be a positive multiple of `num_heads`. "
                f"Received: attention_dim={attention_dim}, "
                f"num_heads={num_heads}"
            )
        self.num_heads = num_heads
        self.attention_dim = attention_dim
        self.epsilon = epsilon
        self.head_dim = attention_dim // num_heads
        self.query_norm = keras.layers.LayerNormalization(
            epsilon=epsilon, dtype=self.dtype_policy, name="query_norm"
        )
        dense = dict(units=attention_dim, dtype=self.dtype_policy)
        self.query_dense = keras.layers.Dense(**dense, name="query")
        self.key_dense = keras.layers.Dense(**dense, name="key")
        self.value_dense = keras.layers.Dense(**dense, name="value")

    def build(self, query_shape, context_shape=None):
        context_shape = context_shape or query_shape
        heads = (self.num_heads, self.head_dim)
        self.query_norm.build(query_shape)
        for dense, shape in [
            (self.query_dense, query_shape),
            (self.key_dense, context_shape),
            (self.value_dense, context_shape),
        ]:
            dense.kernel_initializer = _multi_head_glorot_uniform(
                (shape[-1],) + heads, (shape[-1], self.attention_dim)
            )
            dense.build(shape)
        self.output_dense = keras.layers.Dense(
            query_shape[-1],
            kernel_initializer=_multi_head_glorot_uniform(
                heads + (query_shape[-1],),
                (self.attention_dim, query_shape[-1]),
            ),
            dtype=self.dtype_policy,
            name="output",
        )
        self.output_dense.build(query_shape[:-1] + (self.attention_dim,))

    def _split_heads(self, x):
        shape = ops.shape(x)
        return ops.reshape(
            x, (shape[0], shape[1], self.num_heads, self.head_dim)
        )

    def call(
        self, query, context=None, return_attention_scores=False, key_mask=None
    ):
        """Attends from `query` to `context` (to itself when None).

        Args:
            query: float `(batch, query_len, query_dim)`.
            context: float `(batch, key_len, context_dim)` or None for
                self-attention.
            return_attention_scores: bool. False (the default) runs the
                fused `keras.ops.dot_product_attention`. True computes the
                attention explicitly, `softmax(q k^T / sqrt(head_dim))` in
                float32, and also returns those probabilities; the output
                matches the fused one up to float rounding. It is meant for
                inspection (e.g. read-attention maps), not for training.
            key_mask: optional bool `(batch, key_len)`; False keys are
                left out of every query's softmax (e.g. the inactive
                latents of an elastic forward pass).

        Returns:
            The attention output shaped like `query`, or with
            `return_attention_scores=True` a tuple `(output, scores)` where
            `scores` are float32 `(batch, num_heads, query_len, key_len)`,
            each row a distribution over the keys.
        """
        normed_query = self.query_norm(query)
        context = normed_query if context is None else context
        q = self._split_heads(self.query_dense(normed_query))
        k = self._split_heads(self.key_dense(context))
        v = self._split_heads(self.value_dense(context))
        compute_dtype = q.dtype
        mask = None
        if key_mask is not None:
            mask = ops.cast(key_mask, "bool")[:, None, None, :]
        if return_attention_scores:
            q, k, v = (ops.cast(t, "float32") for t in (q, k, v))
            attended, scores = self._explicit_attention(q, k, v, mask)
        else:
            # The compute dtype goes in as it is: the fused kernels (cuDNN,
            # flash, TPU) need bf16 inputs and keep their softmax in
            # float32, as the backends' other paths do.
            attended = ops.dot_product_attention(q, k, v, mask=mask)
        attended = ops.cast(attended, compute_dtype)
        shape = ops.shape(attended)
        attended = ops.reshape(
            attended, (shape[0], shape[1], self.attention_dim)
        )
        output = self.output_dense(attended)
        if return_attention_scores:
            return output, scores
        return output

    def _explicit_attention(self, q, k, v, mask=None):
        """`dot_product_attention` written out, float32 `(batch, len,
        heads, head_dim)` in; returns the output in the same layout and the
        probabilities `(batch, heads, query_len, key_len)`."""
        scale = 1.0 / math.sqrt(self.head_dim)
        logits = ops.einsum("bqhd,bkhd->bhqk", q, k) * scale
        if mask is not None:
            logits = ops.where(mask, logits, -1e30)
        scores = ops.softmax(logits, axis=-1)
        return ops.einsum("bhqk,bkhd->bqhd", scores, v), scores

    def compute_output_shape(self, query_shape, context_shape=None):
        return query_shape

    def compute_output_spec(
        self, query, context=None, return_attention_scores=False, key_mask=None
    ):
        output = keras.KerasTensor(query.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        keys = query if context is None else context
        scores = keras.KerasTensor(
            (query.shape[0], self.num_heads, query.shape[1], keys.shape[1]),
            dtype="float32",
        )
        return output, scores

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "attention_dim": self.attention_dim,
                "epsilon": self.epsilon,
            }
        )
        return config


def _multi_head_glorot_uniform(kernel_shape, dense_shape):
    """Keras' Glorot-uniform initialiser of a multi-head kernel of shape
    `kernel_shape` (rank 3), for its values stored as a `Dense` kernel of
    shape `dense_shape` (the heads merged into one axis)."""
    scale = _glorot_fan_sum(dense_shape) / _glorot_fan_sum(kernel_shape)
    return keras.initializers.VarianceScaling(
        scale=scale, mode="fan_avg", distribution="uniform"
    )


def _glorot_fan_sum(shape):
    """`fan_in + fan_out` as Keras' Glorot computes them: on a kernel of
    rank 3 or more, `receptive = prod(shape[:-2])`, `fan_in = shape[-2] *
    receptive`, `fan_out = shape[-1] * receptive`. Glorot-uniform's limit
    is `sqrt(6 / (fan_in + fan_out))`."""
    return (shape[-2] + shape[-1]) * math.prod(shape[:-2])
