import keras
import numpy as np
import pytest
from keras import ops

from keras_rin.layers import RINAttention

rng = np.random.default_rng(0)


def _layer_norm(x, gamma, beta, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def _reference(layer, query, context=None):
    w = {
        v.path.split("/", 1)[1]: ops.convert_to_numpy(v) for v in layer.weights
    }
    normed = _layer_norm(query, w["query_norm/gamma"], w["query_norm/beta"])
    context = normed if context is None else context
    q = normed @ w["query/kernel"] + w["query/bias"]
    k = context @ w["key/kernel"] + w["key/bias"]
    v = context @ w["value/kernel"] + w["value/bias"]
    b, nq, _ = q.shape
    nk = k.shape[1]
    h, d = layer.num_heads, layer.head_dim
    q = q.reshape(b, nq, h, d).transpose(0, 2, 1, 3)
    k = k.reshape(b, nk, h, d).transpose(0, 2, 1, 3)
    v = v.reshape(b, nk, h, d).transpose(0, 2, 1, 3)
    weights = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d))
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(b, nq, h * d)
    return out @ w["output/kernel"] + w["output/bias"]


def _randomize(layer):
    for v in layer.weights:
        v.assign(rng.normal(0, 0.3, v.shape).astype("float32"))


def test_cross_attention_matches_numpy_reference():
    layer = RINAttention(num_heads=4, attention_dim=16, name="read")
    query = rng.normal(size=(2, 5, 24)).astype("float32")
    context = rng.normal(size=(2, 9, 12)).astype("float32")
    layer(query, context)
    _randomize(layer)
    got = ops.convert_to_numpy(layer(query, context))
    assert got.shape == (2, 5, 24)
    np.testing.assert_allclose(
        got, _reference(layer, query, context), atol=1e-4, rtol=1e-4
    )


def test_self_attention_matches_numpy_reference():
    layer = RINAttention(num_heads=2, attention_dim=8, name="compute")
    query = rng.normal(size=(3, 6, 8)).astype("float32")
    layer(query)
    _randomize(layer)
    got = ops.convert_to_numpy(layer(query))
    np.testing.assert_allclose(
        got, _reference(layer, query), atol=1e-4, rtol=1e-4
    )


def test_keys_and_values_are_not_normalised():
    layer = RINAttention(num_heads=2, attention_dim=8)
    query = rng.normal(size=(1, 3, 8)).astype("float32")
    context = rng.normal(size=(1, 4, 8)).astype("float32")
    first = ops.convert_to_numpy(layer(query, context))
    # LayerNorm would erase a per-token rescaling of the context.
    second = ops.convert_to_numpy(layer(query, context * 3.0 + 1.0))
    assert not np.allclose(first, second, atol=1e-3)


def test_attention_runs_under_mixed_precision():
    layer = RINAttention(num_heads=2, attention_dim=8, dtype="mixed_bfloat16")
    out = layer(rng.normal(size=(1, 3, 8)).astype("float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert np.all(np.isfinite(ops.convert_to_numpy(ops.cast(out, "float32"))))


def test_fused_attention_takes_bf16_under_mixed_precision(monkeypatch):
    """The fused kernels (cuDNN, flash, TPU) need bf16 inputs; the output
    still matches the float32 layer to bf16 precision."""
    query = rng.normal(size=(2, 24, 32)).astype("float32")
    context = rng.normal(size=(2, 40, 16)).astype("float32")
    full = RINAttention(num_heads=4, attention_dim=16)
    full(query, context)
    _randomize(full)
    mixed = RINAttention(num_heads=4, attention_dim=16, dtype="mixed_bfloat16")
    mixed(query, context)
    mixed.set_weights(full.get_weights())

    fused = ops.dot_product_attention
    seen = []

    def spy(q, k, v, **kwargs):
        seen.append(
            {keras.backend.standardize_dtype(t.dtype) for t in (q, k, v)}
        )
        return fused(q, k, v, **kwargs)

    monkeypatch.setattr(ops, "dot_product_attention", spy)
    got = ops.convert_to_numpy(ops.cast(mixed(query, context), "float32"))
    assert seen == [{"bfloat16"}]
    expected = ops.convert_to_numpy(full(query, context))
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error < 3e-2, error
    # The same to bf16 precision with a key mask (elastic latents).
    key_mask = np.arange(40)[None, :] < np.array([[40], [25]])
    got = ops.convert_to_numpy(
        ops.cast(mixed(query, context, key_mask=key_mask), "float32")
    )
    expected = ops.convert_to_numpy(full(query, context, key_mask=key_mask))
    assert np.abs(got - expected).max() / np.abs(expected).max() < 3e-2


def test_attention_scores_stay_float32_under_mixed_precision():
    layer = RINAttention(num_heads=2, attention_dim=8, dtype="mixed_bfloat16")
    query = rng.normal(size=(1, 3, 8)).astype("float32")
    context = rng.normal(size=(1, 5, 8)).astype("float32")
    _, scores = layer(query, context, return_attention_scores=True)
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.sum(scores, axis=-1)), 1.0, atol=1e-6
    )


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        RINAttention(num_heads=3, attention_dim=16)


def test_config_round_trip():
    layer = RINAttention(num_heads=4, attention_dim=16, epsilon=1e-5)
    restored = RINAttention.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
