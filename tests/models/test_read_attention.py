import keras
import numpy as np
import pytest

import keras_rin
from keras_rin.layers import RINAttention
from keras_rin.layers import RINBlock
from keras_rin.utils.seeds import batch_seed
from tests.helpers import backbone_inputs
from tests.helpers import randomize
from tests.helpers import set_self_conditioning_weights
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone
from tests.helpers import to_numpy

NUM_STEPS = 4


def _assert_distributions(values, axis=-1):
    values = np.asarray(values)
    assert values.dtype == np.float32
    assert np.all(values >= 0)
    np.testing.assert_allclose(values.sum(axis), 1.0, atol=1e-5)


def _sharpen_reads(backbone):
    """Non-zero self-conditioning, so that the latents carried from step
    to step matter, and larger read queries and keys than at
    initialisation, so that the reads look somewhere in particular."""
    set_self_conditioning_weights(backbone)
    for i, block in enumerate(backbone.blocks):
        randomize(block.read_attention.query_dense, seed=2 * i)
        randomize(block.read_attention.key_dense, seed=2 * i + 1)
    return backbone


@pytest.fixture(scope="module")
def image_model():
    return keras_rin.RINImageGenerator(_sharpen_reads(tiny_backbone()))


@pytest.fixture(scope="module")
def video_model():
    backbone = _sharpen_reads(tiny_video_backbone())
    return keras_rin.RINVideoPredictor(backbone, num_context_frames=2)


# --- Backbones --------------------------------------------------------------


def _backbone(request, video):
    """The backbone of the shared image or video model."""
    model = request.getfixturevalue("video_model" if video else "image_model")
    return model.backbone


@pytest.mark.parametrize("video", [False, True], ids=["image", "video"])
def test_backbone_read_attention(video, request):
    backbone = _backbone(request, video)
    # Two examples that differ only in their data.
    inputs = backbone_inputs(backbone)
    for key, value in inputs.items():
        if key != backbone.data_input_name:
            inputs[key] = np.stack([value[0], value[0]])
    outputs = backbone.read_attention(inputs)
    expected = backbone(inputs)
    for key in ("prediction", "latents"):
        np.testing.assert_allclose(
            to_numpy(outputs[key]),
            to_numpy(expected[key]),
            atol=1e-5,
            rtol=1e-5,
        )
    read = to_numpy(outputs["read_attention"])
    assert read.shape == (2, backbone.num_blocks, backbone.num_tokens)
    _assert_distributions(read)
    # Not uniform, and it depends on the data.
    assert read.max() > 1.5 / backbone.num_tokens
    assert np.abs(read[0] - read[1]).max() > 1e-3
    grid = backbone.tokens_to_grid(read)
    expected_grid = (2, 4, 4) if video else (4, 4)
    assert backbone.token_grid_shape == expected_grid
    assert grid.shape == (2, backbone.num_blocks) + expected_grid


@pytest.mark.parametrize("video", [False, True], ids=["image", "video"])
def test_token_grid_puts_each_token_on_its_patch(video, request):
    backbone = _backbone(request, video)
    shape = (1,) + backbone.data_shape
    base = np.zeros(shape, "float32")
    changed = base.copy()
    # One pixel of the patch at grid position (1, 2, 3) of a video (frames
    # 2-3, rows 4-5, columns 6-7) or (2, 3) of an image.
    if video:
        changed[0, 3, 5, 6] = 1.0
        position = (1, 2, 3)
    else:
        changed[0, 5, 6] = 1.0
        position = (2, 3)
    difference = to_numpy(
        backbone.tokenizer(changed) - backbone.tokenizer(base)
    )
    moved = np.abs(difference[0]).sum(-1) > 0
    grid = backbone.tokens_to_grid(moved)
    assert grid.sum() == 1 and grid[position]


def test_backbone_read_attention_checks_its_inputs(image_model):
    backbone = image_model.backbone
    inputs = backbone_inputs(backbone)
    del inputs["labels"]
    with pytest.raises(ValueError, match="`inputs` must be a dict"):
        backbone.read_attention(inputs)
    with pytest.raises(ValueError, match="num_tokens=16"):
        backbone.tokens_to_grid(np.zeros((2, 15)))


# --- RINAttention and RINBlock ----------------------------------------------
# (shaped like the tiny backbone's layers, which the eager backends have
# then already seen)


@pytest.mark.parametrize("cross", [True, False], ids=["read", "compute"])
def test_attention_scores_match_the_fused_attention(cross):
    rng = np.random.default_rng(1)
    if cross:
        layer = RINAttention(num_heads=2, attention_dim=16)
        context = rng.normal(size=(2, 16, 16)).astype("float32")
    else:
        layer = RINAttention(num_heads=4, attention_dim=32)
        context = None
    query = rng.normal(size=(2, 12, 32)).astype("float32")
    layer.build(query.shape, None if context is None else context.shape)
    randomize(layer)
    fused = to_numpy(layer(query, context))
    output, scores = layer(query, context, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(output), fused, atol=1e-5, rtol=1e-5)
    keys = 16 if cross else 12
    assert tuple(scores.shape) == (2, layer.num_heads, 12, keys)
    _assert_distributions(to_numpy(scores))
    # Random weights make the attention far from uniform.
    assert to_numpy(scores).max() > 1.5 / keys


def test_block_read_attention_is_the_mean_read_distribution():
    rng = np.random.default_rng(2)
    block = RINBlock(
        depth=1,
        latent_num_heads=4,
        rw_num_heads=2,
        latent_mlp_ratio=2,
        interface_mlp_ratio=2,
    )
    latents = rng.normal(size=(2, 12, 32)).astype("float32")
    interface = rng.normal(size=(2, 16, 16)).astype("float32")
    block.build(latents.shape, interface.shape)
    randomize(block)
    z, x = block(latents, interface)
    z2, x2, read = block(latents, interface, return_read_attention=True)
    np.testing.assert_allclose(to_numpy(z2), to_numpy(z), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(x2), to_numpy(x), atol=1e-5, rtol=1e-5)
    _, scores = block.read_attention(
        latents, interface, return_attention_scores=True
    )
    assert tuple(read.shape) == (2, 16)
    np.testing.assert_allclose(
        to_numpy(read), to_numpy(scores).mean(axis=(1, 2)), atol=1e-6
    )
    _assert_distributions(to_numpy(read))
    # Symbolic calls give the right specs.
    specs = block(
        keras.KerasTensor((None, 12, 32)),
        keras.KerasTensor((None, 16, 16)),
        return_read_attention=True,
    )
    assert [tuple(s.shape) for s in specs] == [
        (None, 12, 32),
        (None, 16, 16),
        (None, 16),
    ]


# --- Sampling ---------------------------------------------------------------


def test_generate_with_read_attention_with_guidance(image_model):
    model = image_model
    args = dict(
        labels=[0, 1, 2],
        num_steps=NUM_STEPS,
        seed=3,
        batch_size=2,
        guidance_scale=2.0,
        spacing="time",
        verbose=0,
    )
    images, maps = model.generate_with_read_attention(**args, steps=[0, 2, 3])
    np.testing.assert_array_equal(images, model.generate(**args))
    assert maps.shape == (3, 3, 2, 4, 4) and maps.dtype == np.float32
    _assert_distributions(maps.reshape(3, 3, 2, 16))
    # Step 0 reads the initial noise with zero latents at t = 1: the map is
    # that of a plain backbone pass with the true labels (the conditional
    # stream), for the examples of the first batch.
    noise = keras.random.normal(
        (2, 8, 8, 1), seed=keras.random.SeedGenerator(batch_seed(3, 0))
    )
    gamma = float(to_numpy(model.sampling_schedule(1.0)))
    inputs = {
        "noisy_images": noise,
        "noise_levels": np.full((2,), gamma, "float32"),
        "latents": np.zeros((2, 12, 32), "float32"),
        "labels": np.array([0, 1], "int32"),
    }
    expected = to_numpy(model.backbone.read_attention(inputs)["read_attention"])
    np.testing.assert_allclose(
        maps[:2, 0].reshape(2, 2, 16), expected, atol=1e-5
    )
    unconditional = dict(inputs, labels=np.array([-1, -1], "int32"))
    other = to_numpy(
        model.backbone.read_attention(unconditional)["read_attention"]
    )
    assert np.abs(other - expected).max() > 1e-4
    # Later steps read other states.
    assert np.abs(maps[:, 2] - maps[:, 0]).max() > 1e-3


def test_video_generate_with_read_attention(video_model):
    rng = np.random.default_rng(0)
    context = rng.uniform(size=(2, 2, 8, 8, 3)).astype("float32")
    args = dict(num_steps=3, seed=1, verbose=0)
    clips, maps = video_model.generate_with_read_attention(context, **args)
    np.testing.assert_array_equal(clips, video_model.generate(context, **args))
    # The default steps: all 3 of them here. No guidance: the unguided
    # sampling loop (the image test above takes the guided one).
    assert maps.shape == (2, 3, 2, 2, 4, 4)
    _assert_distributions(maps.reshape(2, 3, 2, 32))


@pytest.mark.parametrize(
    "steps, message",
    [
        ([2, 1], "strictly increasing"),
        ([1, 1], "strictly increasing"),
        ([-1], r"in \[0, num_steps=4\)"),
        ([4], r"in \[0, num_steps=4\)"),
        ([1.0], "integer"),
        ([True], "integer"),
        ([], "non-empty"),
        (2, "sequence"),
        ("0", "sequence"),
    ],
)
def test_invalid_steps_raise(image_model, steps, message):
    with pytest.raises(ValueError, match=f"`steps`.*{message}"):
        image_model.generate_with_read_attention(
            labels=[0], num_steps=NUM_STEPS, steps=steps, verbose=0
        )


def test_invalid_steps_raise_for_video(video_model):
    context = np.zeros((1, 2, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="`steps`"):
        video_model.generate_with_read_attention(
            context, num_steps=3, steps=[3], verbose=0
        )
