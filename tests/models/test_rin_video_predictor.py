import keras
import numpy as np
import pytest
from keras import ops

import keras_rin
from tests.helpers import TINY_CONFIG
from tests.helpers import TINY_VIDEO_CONFIG
from tests.helpers import run_backbone_test
from tests.helpers import run_diffusion_model_test
from tests.helpers import tiny_video_backbone
from tests.helpers import toy_clips

CONTEXT = 1


def build(context=CONTEXT, **overrides):
    backbone_overrides = {
        k: overrides.pop(k) for k in list(overrides) if k in TINY_VIDEO_CONFIG
    }
    backbone = tiny_video_backbone(**backbone_overrides)
    return keras_rin.RINVideoPredictor(
        backbone, num_context_frames=context, seed=0, **overrides
    )


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = build(prediction_target="v")
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(toy_clips(64), batch_size=16, epochs=2, verbose=0)
    return model


class _SpyBackbone:
    """Wraps a backbone: records its data inputs and puts NaN into the
    predictions of the context frames."""

    def __init__(self, backbone, context):
        self.backbone = backbone
        self.context = context
        self.inputs = []

    def __getattr__(self, name):
        return getattr(self.backbone, name)

    def __call__(self, inputs, training=False):
        self.inputs.append(inputs[self.backbone.data_input_name])
        outputs = self.backbone(inputs, training=training)
        prediction = outputs["prediction"]
        shape = ops.shape(prediction[:, : self.context])
        poisoned = ops.concatenate(
            [
                ops.full(shape, float("nan")),
                prediction[:, self.context :],
            ],
            axis=1,
        )
        return {"prediction": poisoned, "latents": outputs["latents"]}


def _spy_on(model):
    spy = _SpyBackbone(model.backbone, model.num_context_frames)
    # Bypass Keras' attribute tracking: the spy is not a layer.
    object.__setattr__(model, "backbone", spy)
    return spy


@pytest.mark.parametrize("overrides", [{}, {"num_classes": 3}])
def test_video_backbone_basics(overrides, tmp_path):
    backbone = run_backbone_test(
        keras_rin.RINVideoBackbone,
        {**TINY_VIDEO_CONFIG, **overrides},
        tmp_path,
    )
    assert backbone.num_tokens == 2 * 4 * 4
    assert backbone.token_grid_shape == (2, 4, 4)


def test_training_forward_covers_the_predicted_frames_only():
    model = build(context=2)
    outputs = model(toy_clips(4), training=True)
    assert tuple(outputs["prediction"].shape) == (4, 2, 8, 8, 3)
    assert tuple(outputs["target"].shape) == (4, 2, 8, 8, 3)


def test_loss_ignores_the_context_frames_and_context_enters_clean():
    model = build(context=2, self_conditioning_rate=0.5)
    clips = toy_clips(4)
    spy = _spy_on(model)
    outputs = model(clips, training=True)
    loss = ops.convert_to_numpy(model.compute_loss(y_pred=outputs))
    # NaN in the context predictions would make the loss NaN.
    assert np.isfinite(loss)
    assert len(spy.inputs) == 2  # the self-conditioning pass, then the other
    first, trained = (ops.convert_to_numpy(x) for x in spy.inputs)
    np.testing.assert_allclose(trained[:, :2], 2 * clips[:, :2] - 1)
    assert not np.allclose(trained[:, 2:], 2 * clips[:, 2:] - 1, atol=0.05)
    # The first pass sees the self-conditioned half of the same inputs.
    assert len(first) == 2
    for row in first:
        assert any(np.allclose(row, other) for other in trained)


def test_fit_lowers_the_loss(trained):
    losses = trained.history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_generate_keeps_the_context_frames_bit_for_bit(trained):
    clips = toy_clips(3, seed=1)
    context = clips[:, :CONTEXT] + np.float32(1e-7)  # not on a uint8 grid
    out = trained.generate(context, num_steps=3, seed=0, verbose=0)
    assert out.shape == (3, 4, 8, 8, 3) and out.dtype == np.float32
    assert np.array_equal(out[:, :CONTEXT], context)
    assert np.all((out >= 0) & (out <= 1))
    as_uint8 = np.round(clips[:, :CONTEXT] * 255).astype("uint8")
    out = trained.generate(as_uint8, num_steps=2, seed=0, verbose=0)
    assert np.array_equal(out[:, :CONTEXT], as_uint8 / np.float32(255))


def test_generate_is_seeded_and_the_context_matters(trained):
    clips = toy_clips(4, seed=2)
    context = clips[:, :CONTEXT]
    first = trained.generate(context, num_steps=4, seed=7, verbose=0)
    again = trained.generate(
        context, num_steps=4, seed=7, batch_size=4, verbose=0
    )
    other = trained.generate(context, num_steps=4, seed=8, verbose=0)
    np.testing.assert_allclose(first, again, atol=1e-5)
    assert not np.allclose(first, other)
    ddim = trained.generate(
        context, num_steps=4, sampler="ddim", seed=0, verbose=0
    )
    swapped = trained.generate(
        context[::-1], num_steps=4, sampler="ddim", seed=0, verbose=0
    )
    assert not np.allclose(ddim[:, CONTEXT:], swapped[::-1, CONTEXT:])


def test_a_single_clip_without_batch_axis(trained):
    clip = toy_clips(1)[0, :CONTEXT]
    out = trained.generate(clip, num_steps=2, seed=0, verbose=0)
    assert out.shape == (1, 4, 8, 8, 3)


def test_class_conditional_video_with_guidance():
    model = build(num_classes=3, label_dropout_rate=0.2)
    clips = toy_clips(4)
    outputs = model({"videos": clips, "labels": np.arange(4) % 3})
    assert tuple(outputs["prediction"].shape) == (4, 3, 8, 8, 3)
    out = model.generate(
        clips[:3, :CONTEXT],
        labels=[0, 1, 2],
        num_steps=2,
        guidance_scale=2.0,
        seed=0,
        verbose=0,
    )
    assert out.shape == (3, 4, 8, 8, 3)
    with pytest.raises(ValueError, match="`labels` are required"):
        model.generate(clips[:3, :CONTEXT], num_steps=2)
    with pytest.raises(ValueError, match="`labels` has 2 entries"):
        model.generate(clips[:3, :CONTEXT], labels=[0, 1], num_steps=2)


def test_video_predictor_basics(trained, tmp_path):
    run_diffusion_model_test(
        trained,
        (toy_clips(8, seed=3),),
        dict(context_frames=toy_clips(2)[:, :CONTEXT], num_steps=3),
        tmp_path,
    )
    path = str(tmp_path / "preset")
    with pytest.raises(ValueError, match="not a RINImageGenerator"):
        keras_rin.RINImageGenerator.from_preset(path)
    model = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(trained)
    )
    assert model.num_context_frames == CONTEXT


def test_wrong_number_of_frames_raises(trained):
    with pytest.raises(ValueError, match=r"\(batch, 4, 8, 8, 3\)"):
        trained.fit(np.zeros((4, 3, 8, 8, 3), "float32"), epochs=1)
    with pytest.raises(ValueError, match="`context_frames` must have shape"):
        trained.generate(np.zeros((2, 2, 8, 8, 3), "float32"), num_steps=2)
    with pytest.raises(ValueError, match="`context_frames` must have shape"):
        trained.generate(np.zeros((2, 1, 8, 6, 3), "float32"), num_steps=2)


def test_an_interface_narrower_than_a_patch_warns():
    # 2x2x2 patches of 3 channels hold 24 values.
    with pytest.warns(UserWarning, match="interface_dim`=16 is smaller"):
        tiny_video_backbone(interface_dim=16)
    with pytest.warns(UserWarning, match="interface_dim >= 48"):
        keras_rin.RINBackbone(
            **{**TINY_CONFIG, "image_shape": (8, 8, 3), "patch_size": 4}
        )


def test_context_longer_than_the_clip_raises():
    with pytest.raises(ValueError, match="smaller than the clip length"):
        build(context=4)
    with pytest.raises(ValueError, match="`num_context_frames` must be"):
        build(context=0)


def test_frame_size_not_divisible_by_the_patch_raises():
    with pytest.raises(ValueError, match="height must be divisible"):
        tiny_video_backbone(video_shape=(4, 7, 8, 3))
    with pytest.raises(ValueError, match="frames must be divisible"):
        tiny_video_backbone(video_shape=(5, 8, 8, 3))
    with pytest.raises(ValueError, match="`video_shape` must be"):
        tiny_video_backbone(video_shape=(8, 8, 3))


@pytest.mark.parametrize(
    "context, match",
    [
        (np.full((1, 1, 8, 8, 3), np.nan, "float32"), "non-finite"),
        (np.full((1, 1, 8, 8, 3), 2.0, "float32"), r"\[0, 1\]"),
        (np.zeros((1, 1, 8, 8, 3), "int32"), "dtype int32"),
        (np.zeros((0, 1, 8, 8, 3), "float32"), "no clips"),
    ],
)
def test_bad_context_frames_raise(trained, context, match):
    with pytest.raises(ValueError, match=match):
        trained.generate(context, num_steps=2)


def test_models_reject_each_others_backbones():
    with pytest.raises(ValueError, match="must be a RINVideoBackbone"):
        keras_rin.RINVideoPredictor(
            keras_rin.RINBackbone(**TINY_CONFIG), num_context_frames=1
        )
    with pytest.raises(ValueError, match="must be a RINBackbone"):
        keras_rin.RINImageGenerator(tiny_video_backbone())


def test_labels_for_an_unconditional_video_model_raise(trained):
    with pytest.raises(ValueError, match="unconditional"):
        trained.generate(toy_clips(1)[:, :CONTEXT], labels=[0], num_steps=2)


def test_elastic_latents_train_and_predict_with_a_compute_schedule():
    # Unconditional: one reserved latent (time), so the smallest count is 2.
    keras.utils.set_random_seed(0)
    full = TINY_VIDEO_CONFIG["num_latents"]
    model = build(elastic_latent_counts=[2, full])
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(toy_clips(16), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    context = toy_clips(2)[:, :CONTEXT]
    kwargs = dict(num_steps=4, seed=0, verbose=0)
    cheap = model.generate(
        context, compute_schedule=[(0.5, 2), (0.5, full)], **kwargs
    )
    assert cheap.shape == (2,) + TINY_VIDEO_CONFIG["video_shape"]
    assert np.all(np.isfinite(cheap))
    np.testing.assert_array_equal(
        model.generate(context, compute_schedule=[(1.0, full)], **kwargs),
        model.generate(context, **kwargs),
    )
