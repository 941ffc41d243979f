import keras
import numpy as np
import pytest
from keras import ops

from keras_rin import layers

rng = np.random.default_rng(0)


def _numpy(x):
    return ops.convert_to_numpy(x)


def test_tokenizer_shapes_and_indivisible_size():
    tokenizer = layers.ImagePatchTokenizer(patch_size=4, hidden_dim=16)
    tokens = tokenizer(rng.normal(size=(2, 16, 8, 3)).astype("float32"))
    assert tuple(tokens.shape) == (2, 8, 16)
    assert tuple(tokenizer.position_embedding.shape) == (8, 16)
    with pytest.raises(ValueError, match="divisible by `patch_size`=4"):
        layers.ImagePatchTokenizer(4, 16)(np.zeros((1, 10, 8, 3), "float32"))


def test_readout_places_patches_like_depth_to_space():
    readout = layers.ImagePatchReadout(patch_size=2, image_shape=(4, 6, 3))
    tokens = rng.normal(size=(2, 6, 8)).astype("float32")
    image = _numpy(readout(tokens))
    patches = _numpy(readout.dense(readout.norm(tokens)))
    expected = np.zeros((2, 4, 6, 3), "float32")
    for token in range(6):
        row, col = divmod(token, 3)
        block = patches[:, token].reshape(2, 2, 2, 3)
        expected[:, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2] = block
    np.testing.assert_allclose(image, expected, atol=1e-6)
    d2s = ops.depth_to_space(patches.reshape(2, 2, 3, 12), 2)
    np.testing.assert_allclose(image, _numpy(d2s), atol=1e-6)


def test_noise_level_embedding_uses_a_normalised_sinusoid():
    embedding = layers.NoiseLevelEmbedding(64)
    gamma = np.array([0.0, 0.3, 0.99], "float32")
    assert tuple(embedding(gamma).shape) == (3, 64)
    code = _numpy(embedding.sinusoid(gamma))
    assert code.shape == (3, 16)
    np.testing.assert_allclose(code.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(code.std(-1), 1, atol=1e-3)
    assert not np.allclose(code[1], code[2])


def test_class_embedding_null_label_gives_the_bias():
    embedding = layers.ClassEmbedding(num_classes=5, hidden_dim=8)
    out = _numpy(embedding(np.array([2, -1], "int32")))
    kernel, bias = (_numpy(w) for w in embedding.dense.weights)
    np.testing.assert_allclose(out[0], kernel[2] + bias, atol=1e-6)
    np.testing.assert_allclose(out[1], bias, atol=1e-6)


def test_self_conditioning_is_a_no_op_at_initialisation():
    layer = layers.LatentSelfConditioning()
    out = _numpy(layer(rng.normal(size=(2, 5, 16)).astype("float32")))
    np.testing.assert_array_equal(out, np.zeros_like(out))
    for weight in layer.output_norm.weights:
        np.testing.assert_array_equal(_numpy(weight), 0)


def test_learned_latents_are_tiled_over_the_batch():
    layer = layers.LearnedLatents(6, 8)
    out = _numpy(layer(np.zeros((3, 1), "float32")))
    assert out.shape == (3, 6, 8)
    np.testing.assert_array_equal(out[0], out[2])
    assert np.std(_numpy(layer.latents)) == pytest.approx(0.02, rel=0.5)


def test_drop_path_drops_whole_examples():
    layer = layers.DropPath(0.5, seed=1)
    x = np.ones((256, 3, 4), "float32")
    np.testing.assert_array_equal(_numpy(layer(x, training=False)), x)
    out = _numpy(layer(x, training=True))
    per_example = out.reshape(256, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(1) == per_example.max(1))
    assert 0.3 < (per_example[:, 0] == 0).mean() < 0.7
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\)"):
        layers.DropPath(1.0)


def test_rin_block_updates_latents_and_interface():
    block = layers.RINBlock(depth=2, latent_num_heads=4, rw_num_heads=2)
    z = rng.normal(size=(2, 6, 32)).astype("float32")
    x = rng.normal(size=(2, 10, 16)).astype("float32")
    new_z, new_x = block(z, x)
    assert tuple(new_z.shape) == z.shape and tuple(new_x.shape) == x.shape
    # Read/write attend at width min(dim_x, dim_z) = 16.
    assert block.read_attention.attention_dim == 16
    assert len(block.compute_attentions) == 2
    with pytest.raises(ValueError, match="`depth` must be >= 1"):
        layers.RINBlock(depth=0, latent_num_heads=4, rw_num_heads=2)


LAYERS = [
    layers.ImagePatchTokenizer(2, 8),
    layers.ImagePatchReadout(2, (4, 4, 3)),
    layers.NoiseLevelEmbedding(16, scaling=500.0),
    layers.ClassEmbedding(4, 8),
    layers.LatentSelfConditioning(mlp_ratio=2),
    layers.LearnedLatents(3, 8),
    layers.DropPath(0.2, seed=3),
    layers.RINMLP(mlp_ratio=3, dropout_rate=0.1),
    layers.RINBlock(2, 4, 2, 3, 2, 0.1, 0.2),
]


@pytest.mark.parametrize(
    "layer", LAYERS, ids=lambda layer: type(layer).__name__
)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert type(keras.saving.deserialize_keras_object(serialized)) is type(
        layer
    )


def test_video_tokenizer_orders_tokens_by_time_row_column():
    tokenizer = layers.VideoPatchTokenizer(
        patch_size=2, frames_per_patch=2, hidden_dim=8
    )
    videos = rng.normal(size=(2, 4, 4, 6, 3)).astype("float32")
    tokens = _numpy(tokenizer(videos))
    assert tokens.shape == (2, 2 * 2 * 3, 8)
    # A Conv3D with kernel = stride is a dense layer on flattened patches.
    kernel, bias = (_numpy(w) for w in tokenizer.stem.weights)
    patches = videos.reshape(2, 2, 2, 2, 2, 3, 2, 3)
    patches = patches.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(2, 12, -1)
    stem = patches @ kernel.reshape(-1, 8) + bias
    norm = tokenizer.stem_norm
    normed = _numpy(norm(stem))
    position = _numpy(tokenizer.position_embedding)
    np.testing.assert_allclose(tokens, normed + position, atol=1e-4)


def test_video_tokenizer_rejects_indivisible_clips():
    tokenizer = layers.VideoPatchTokenizer(2, 2, 8)
    with pytest.raises(ValueError, match="frames must be divisible"):
        tokenizer(np.zeros((1, 3, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="width must be divisible"):
        layers.VideoPatchTokenizer(2, 1, 8)(np.zeros((1, 3, 4, 5, 3)))


def test_video_readout_inverts_the_tokenizer_layout():
    readout = layers.VideoPatchReadout(
        patch_size=2, frames_per_patch=2, video_shape=(4, 4, 6, 3)
    )
    tokens = rng.normal(size=(2, 12, 8)).astype("float32")
    video = _numpy(readout(tokens))
    assert video.shape == (2, 4, 4, 6, 3)
    patches = _numpy(readout.dense(readout.norm(tokens)))
    expected = np.zeros_like(video)
    for token in range(12):
        time, rest = divmod(token, 6)
        row, col = divmod(rest, 3)
        block = patches[:, token].reshape(2, 2, 2, 2, 3)
        expected[
            :,
            2 * time : 2 * time + 2,
            2 * row : 2 * row + 2,
            2 * col : 2 * col + 2,
        ] = block
    np.testing.assert_allclose(video, expected, atol=1e-6)


def test_video_layers_serialise():
    for layer in [
        layers.VideoPatchTokenizer(2, 2, 8, epsilon=1e-5),
        layers.VideoPatchReadout(2, 2, (4, 4, 6, 3)),
    ]:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
