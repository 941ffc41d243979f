import keras
import numpy as np
import pytest
from keras import ops

import keras_rin
from keras_rin.diffusion import schedules
from keras_rin.diffusion import self_conditioned_training
from tests.helpers import gradients
from tests.helpers import run_diffusion_model_test
from tests.helpers import set_self_conditioning_weights
from tests.helpers import tiny_backbone
from tests.helpers import toy_images

EPOCHS = 50


@pytest.fixture(scope="module")
def trained():
    """A tiny class-conditional model fitted on images whose brightness
    tells the class, and its loss history. It predicts v: with eps, the
    class shows in the target only as `sqrt(gamma) * x` at high noise and a
    model this small needs far more steps to pick it up."""
    keras.utils.set_random_seed(0)
    images, labels = toy_images()
    model = keras_rin.RINImageGenerator(
        tiny_backbone(dropout_rate=0.1, drop_path_rate=0.1),
        prediction_target="v",
        label_dropout_rate=0.2,
        seed=0,
    )
    model.compile(optimizer=keras.optimizers.AdamW(3e-3, weight_decay=0.0))
    history = model.fit(images, labels, batch_size=8, epochs=EPOCHS, verbose=0)
    return model, history.history["loss"]


def _generate(model, **kwargs):
    defaults = dict(labels=[0, 1, 2], num_steps=12, seed=7, verbose=0)
    return model.generate(**{**defaults, **kwargs})


def test_fit_lowers_the_loss(trained):
    _, losses = trained
    assert len(losses) == EPOCHS
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])


def test_evaluate_accepts_dict_inputs(trained):
    model, _ = trained
    images, labels = toy_images(16, seed=1)
    loss = model.evaluate(
        {"images": images, "labels": labels}, batch_size=16, verbose=0
    )
    assert np.isfinite(loss)


def test_generate_returns_images_in_unit_range(trained):
    model, _ = trained
    samples = _generate(model)
    assert samples.shape == (3, 8, 8, 1)
    assert samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0


def test_samples_show_the_requested_class(trained):
    model, _ = trained
    labels = np.repeat(np.arange(3), 4)
    for sampler in ("ddim", "ddpm"):
        samples = _generate(model, labels=labels, num_steps=25, sampler=sampler)
        brightness = samples.mean(axis=(1, 2, 3)).reshape(3, 4).mean(1)
        # Class c was trained at brightness 0.15 + 0.4 c.
        assert brightness[0] < brightness[1] < brightness[2], brightness
        assert brightness[2] - brightness[0] > 0.4, brightness


def test_generator_basics(trained, tmp_path):
    model, _ = trained
    images, labels = toy_images(16, seed=2)
    run_diffusion_model_test(
        model,
        (images, labels),
        dict(labels=[0, 1, 2], num_steps=4, sampler="ddim"),
        tmp_path,
    )


def test_equal_seeds_agree_with_ddpm(trained):
    model, _ = trained
    first = _generate(model, sampler="ddpm", seed=1)
    np.testing.assert_array_equal(
        _generate(model, sampler="ddpm", seed=1), first
    )
    assert np.abs(_generate(model, sampler="ddpm", seed=2) - first).max() > 1e-3


@pytest.mark.parametrize(
    "setting, value",
    [
        ("sampling_schedule", schedules.get("linear")),
        ("prediction_target", "x"),
        ("input_scale", 0.5),
    ],
)
def test_generate_follows_settings_changed_after_a_call(setting, value):
    # The compiled loop must not keep the settings of its first trace.
    keras.utils.set_random_seed(5)
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    set_self_conditioning_weights(model.backbone)
    # Uniform time: the other spacings use the schedule only for its range.
    kwargs = dict(num_steps=6, sampler="ddim", spacing="time")
    before = _generate(model, **kwargs)
    setattr(model, setting, value)
    after = _generate(model, **kwargs)
    fresh = keras_rin.RINImageGenerator.from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(after, _generate(fresh, **kwargs), atol=1e-6)
    assert np.abs(after - before).max() > 1e-3
    _, maps = model.generate_with_read_attention(
        labels=[0, 1, 2], steps=[3], seed=7, verbose=0, **kwargs
    )
    _, fresh_maps = fresh.generate_with_read_attention(
        labels=[0, 1, 2], steps=[3], seed=7, verbose=0, **kwargs
    )
    np.testing.assert_allclose(maps, fresh_maps, atol=1e-6)


def test_ddpm_draws_new_noise_at_every_step(trained):
    model, _ = trained
    # DDPM and DDIM start from the same noise; if DDPM reused one noise draw
    # or none, the two would stay much closer.
    ddpm = _generate(model, sampler="ddpm", seed=3)
    ddim = _generate(model, sampler="ddim", seed=3)
    assert np.abs(ddpm - ddim).max() > 1e-3


def test_batch_size_and_repeated_label(trained):
    model, _ = trained
    kwargs = dict(num_images=4, labels=1, num_steps=4, batch_size=2, verbose=0)
    samples = model.generate(seed=0, **kwargs)
    assert samples.shape == (4, 8, 8, 1)
    # Batches of neighbouring seeds must not share noise.
    next_seed = model.generate(seed=1, **kwargs)
    assert np.abs(samples[2:] - next_seed[:2]).max() > 1e-3
    assert np.abs(samples[:2] - samples[2:]).max() > 1e-3


def test_classifier_free_guidance_changes_samples(trained):
    model, _ = trained
    plain = _generate(model, sampler="ddim")
    guided = _generate(model, sampler="ddim", guidance_scale=3.0)
    assert guided.shape == plain.shape
    assert np.abs(guided - plain).max() > 1e-3


def test_the_model_guidance_scale_is_the_default(trained):
    model, _ = trained
    guided = _generate(model, sampler="ddim", guidance_scale=3.0)
    model.guidance_scale = 3.0
    try:
        np.testing.assert_allclose(_generate(model, sampler="ddim"), guided)
    finally:
        model.guidance_scale = 1.0
    config = keras_rin.RINImageGenerator(
        model.backbone, guidance_scale=2.5
    ).get_config()
    assert config["guidance_scale"] == 2.5
    with pytest.raises(ValueError, match="`guidance_scale` must be"):
        keras_rin.RINImageGenerator(model.backbone, guidance_scale=-1)


def test_generate_shows_a_progress_bar(trained, capsys):
    model, _ = trained
    _generate(model, num_steps=4, verbose=1)
    assert "4/4" in capsys.readouterr().out


def test_latents_are_carried_between_sampling_steps():
    keras.utils.set_random_seed(1)
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    norm = model.backbone.self_conditioning.output_norm
    baseline = _generate(model, sampler="ddim")
    # A non-zero scale (zero bias) only matters if non-zero latents arrive:
    # the first step gets zeros, later steps the previous step's latents.
    norm.gamma.assign(np.full(norm.gamma.shape, 3.0, "float32"))
    carried = _generate(model, sampler="ddim")
    assert np.abs(carried - baseline).max() > 1e-4
    one_step = _generate(model, sampler="ddim", num_steps=1)
    norm.gamma.assign(np.zeros(norm.gamma.shape, "float32"))
    np.testing.assert_allclose(
        one_step, _generate(model, sampler="ddim", num_steps=1), atol=1e-6
    )


def test_no_gradient_reaches_the_self_conditioning_pass():
    keras.utils.set_random_seed(2)
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    set_self_conditioning_weights(model.backbone)
    rng = np.random.default_rng(0)
    x_t = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    gamma = np.array([0.1, 0.4, 0.6, 0.9], "float32")
    labels = np.array([0, 1, 2, 0], "int32")
    use = np.array([True, True, False, True])
    target = rng.normal(size=x_t.shape).astype("float32")
    inputs = model.backbone_inputs(
        x_t, gamma, labels, np.zeros((4, 12, 32), "float32")
    )
    first_latents = ops.convert_to_numpy(model.backbone(inputs)["latents"])
    fixed_latents = first_latents * use[:, None, None]
    variables = model.backbone.trainable_variables

    def model_loss():
        prediction = model.self_conditioned_prediction(x_t, gamma, labels, use)
        return ops.mean(ops.square(ops.subtract(prediction, target)))

    def constant_latents_loss():
        outputs = model.backbone(
            model.backbone_inputs(x_t, gamma, labels, fixed_latents)
        )
        return ops.mean(ops.square(ops.subtract(outputs["prediction"], target)))

    got = gradients(model_loss, variables)
    expected = gradients(constant_latents_loss, variables)
    assert max(np.abs(g).max() for g in got) > 0
    for g, e, v in zip(got, expected, variables, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5, err_msg=v.path)


@pytest.mark.parametrize("rate, batch, draws", [(0.55, 10, 16), (1.0, 4, 2)])
def test_self_conditioning_runs_the_first_pass_on_a_subset(rate, batch, draws):
    """`call` gives the first-pass latents to `ceil(rate * batch)` examples
    at most (the last of them with the leftover probability), zeros to the
    others, and every example is self-conditioned with probability `rate`."""
    keras.utils.set_random_seed(3)
    model = keras_rin.RINImageGenerator(
        tiny_backbone(), self_conditioning_rate=rate, seed=0
    )
    rng = np.random.default_rng(0)
    x_t = rng.normal(size=(batch, 8, 8, 1)).astype("float32")
    gamma = rng.uniform(size=(batch,)).astype("float32")
    labels = rng.integers(0, 3, batch).astype("int32")
    zeros = np.zeros((batch, 12, 32), "float32")
    expected = ops.convert_to_numpy(
        model.backbone(model.backbone_inputs(x_t, gamma, labels, zeros))[
            "latents"
        ]
    )
    counts = []
    for _ in range(draws):
        latents = ops.convert_to_numpy(
            self_conditioned_training.self_conditioning_latents(
                model,
                tuple(ops.convert_to_tensor(v) for v in (x_t, gamma, labels))
                + (None,),
                training=False,
            )
        )
        used = np.abs(latents).max(axis=(1, 2)) > 0
        np.testing.assert_allclose(latents[used], expected[used], atol=1e-5)
        counts.append(int(used.sum()))
    low, high = int(np.floor(rate * batch)), int(np.ceil(rate * batch))
    assert set(counts) <= {low, high}
    if low != high:
        assert set(counts) == {low, high}  # the last one is a coin flip
    assert abs(np.mean(counts) / batch - rate) < 0.1


def test_unconditional_model_trains_from_a_dataset_and_samples():
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    images, _ = toy_images(16)
    model = keras_rin.RINImageGenerator(
        tiny_backbone(num_classes=None),
        train_schedule="cosine",
        prediction_target="x",
        input_scale=0.5,
        seed=0,
    )
    model.compile(optimizer="adam")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(8)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    samples = model.generate(num_images=2, num_steps=3, seed=0, verbose=0)
    assert samples.shape == (2, 8, 8, 1)


def test_uint8_images_are_accepted():
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    images, labels = toy_images(4)
    outputs = model(
        {"images": (images * 255).astype("uint8"), "labels": labels}
    )
    assert tuple(outputs["prediction"].shape) == (4, 8, 8, 1)


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrained():
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    model.compile(optimizer="adam")
    return model


@pytest.mark.parametrize(
    "images,labels,match",
    [
        (np.zeros((4, 8, 8, 3)), [0] * 4, r"shape \(batch, 8, 8, 1\)"),
        (np.zeros((4, 16, 16, 1)), [0] * 4, r"shape \(batch, 8, 8, 1\)"),
        (np.zeros((4, 8, 8, 1)), [0, 1, 2, 3], r"must be in \[0, 3\)"),
        (np.zeros((4, 8, 8, 1)), [0, -1, 2, 0], r"must be in \[0, 3\)"),
        (np.zeros((4, 8, 8, 1)), None, "labels\\) is required"),
        (np.full((4, 8, 8, 1), np.nan), [0] * 4, "non-finite pixel"),
        (np.full((4, 8, 8, 1), 255.0), [0] * 4, r"\[0, 1\]"),
        (np.zeros((4, 8, 8, 1)), [0, 1], "1-D array of 4 class ids"),
        (np.zeros((4, 8, 8, 1), "int64"), [0] * 4, "Received dtype int64"),
    ],
)
def test_bad_training_data_raises(untrained, images, labels, match):
    images = np.asarray(images, images.dtype)
    labels = None if labels is None else np.asarray(labels)
    with pytest.raises(ValueError, match=match):
        untrained.fit(images, labels, epochs=1, verbose=0)


def test_bad_dataset_shape_raises(untrained):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(
        (np.zeros((4, 8, 8, 3), "float32"), np.zeros((4,), "int32"))
    ).batch(2)
    match = r"first batch of `x`.*must have shape \(batch, 8, 8, 1\)"
    with pytest.raises(ValueError, match=match):
        untrained.fit(dataset, epochs=1, verbose=0)


def test_labels_for_an_unconditional_model_raise():
    model = keras_rin.RINImageGenerator(tiny_backbone(num_classes=None))
    images, labels = toy_images(4)
    with pytest.raises(ValueError, match="unconditional"):
        model({"images": images, "labels": labels})
    with pytest.raises(ValueError, match="`labels` must be None"):
        model.generate(num_images=2, labels=[0, 1], verbose=0)
    with pytest.raises(ValueError, match="`guidance_scale` needs a class"):
        model.generate(num_images=2, guidance_scale=2.0, verbose=0)
    with pytest.raises(ValueError, match="`num_images` is required"):
        model.generate(verbose=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(labels=[0, 5]), r"must be in \[0, 3\)"),
        (dict(labels=None), "`labels` are required"),
        (dict(labels=[0, 1], num_images=3), "they must match"),
        (dict(labels=[[0, 1]]), "1-D sequence"),
        (dict(labels=[0], sampler="euler"), "`sampler` must be one of"),
        (dict(labels=[0], num_steps=0), "`num_steps` must be a positive"),
        (dict(labels=[0], batch_size=-2), "`batch_size` must be a positive"),
        (dict(labels=[0], guidance_scale=-1.0), "`guidance_scale` must be"),
        (dict(labels=[0], seed="a"), "`seed` must be an int >= 0"),
        (dict(labels=[0], seed=-1), "`seed` must be an int >= 0"),
        (dict(labels=[0], num_steps=2.5), "`num_steps` must be a positive"),
    ],
)
def test_bad_generate_arguments_raise(untrained, kwargs, match):
    with pytest.raises(ValueError, match=match):
        untrained.generate(verbose=0, **kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(self_conditioning_rate=-0.1), "`self_conditioning_rate`"),
        (dict(self_conditioning_rate=1.5), "`self_conditioning_rate`"),
        (dict(label_dropout_rate=1.0), "`label_dropout_rate`"),
        (dict(train_schedule="quadratic"), "Unknown noise schedule"),
        (dict(sampling_schedule="nope"), "Unknown noise schedule"),
        (dict(prediction_target="score"), "`prediction_target`"),
        (dict(input_scale=0.0), "`input_scale`"),
    ],
)
def test_bad_model_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_rin.RINImageGenerator(tiny_backbone(), **kwargs)


def test_label_dropout_needs_a_conditional_backbone():
    with pytest.raises(ValueError, match="needs a class-conditional"):
        keras_rin.RINImageGenerator(
            tiny_backbone(num_classes=None), label_dropout_rate=0.1
        )


def test_backbone_must_be_a_rin_backbone():
    with pytest.raises(ValueError, match="must be a RINBackbone"):
        keras_rin.RINImageGenerator(keras.layers.Dense(3))


def test_sampling_with_an_exact_denoiser_reproduces_the_data():
    # Three training images and the exact posterior-mean denoiser for them:
    # the compiled sampling loop must then land on those images.
    data = np.zeros((3, 8, 8, 1), "float32")
    data[0, :4], data[1, :, :4], data[2, 2:6, 2:6] = 1.0, 1.0, 1.0
    x_data = ops.convert_to_tensor(data * 2 - 1)
    model = keras_rin.RINImageGenerator(tiny_backbone(num_classes=None))

    def exact_denoiser(x, gamma, labels, latents, context=None, **options):
        gamma = gamma[:, None]  # (batch, 1): one noise level per example
        image_gamma = gamma[:, :, None, None]
        distance = x[:, None] - ops.sqrt(image_gamma[..., None]) * x_data[None]
        logits = -ops.sum(ops.square(distance), axis=(2, 3, 4))
        weights = ops.softmax(logits / (2 * (1 - gamma)), axis=-1)
        x0 = ops.einsum("bn,nhwc->bhwc", weights, x_data)
        eps = (x - ops.sqrt(image_gamma) * x0) / ops.sqrt(1 - image_gamma)
        return eps, latents

    # Bypass Keras' attribute tracking: a plain function stands in for the
    # method that every sampling step calls.
    object.__setattr__(model, "denoise", exact_denoiser)
    for sampler in ("ddpm", "ddim"):
        samples = model.generate(
            num_images=6, num_steps=50, sampler=sampler, seed=0, verbose=0
        )
        distances = ((samples[:, None] - data[None]) ** 2).mean((2, 3, 4))
        # Squared error 1e-3 (RMS 0.03) against 0.25..0.5 between images.
        assert np.all(distances.min(1) < 1e-3), distances
