"""The fast solvers, guidance intervals and image editing of `generate`,
on tiny models (untrained, or with an exact denoiser standing in for the
network) on every backend."""

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

import keras_rin
from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import samplers
from keras_rin.diffusion import sampling
from keras_rin.diffusion import sampling_loop
from keras_rin.diffusion import sampling_options
from keras_rin.diffusion import schedules
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone

# Three 8x8 images and the exact posterior-mean denoiser for them.
DATA = np.zeros((3, 8, 8, 1), "float32")
DATA[0, :4], DATA[1, :, :4], DATA[2, 2:6, 2:6] = 1.0, 1.0, 1.0


def exact_denoiser_model():
    model = keras_rin.RINImageGenerator(tiny_backbone(num_classes=None))
    x_data = ops.convert_to_tensor(DATA * 2 - 1)

    def exact_denoiser(x, gamma, labels, latents, context=None, **options):
        gamma = gamma[:, None]  # (batch, 1): one noise level per example
        image_gamma = gamma[:, :, None, None]
        distance = x[:, None] - ops.sqrt(image_gamma[..., None]) * x_data[None]
        logits = -ops.sum(ops.square(distance), axis=(2, 3, 4))
        weights = ops.softmax(
            logits / (2 * ops.maximum(1 - gamma, 1e-12)), axis=-1
        )
        x0 = ops.einsum("bn,nhwc->bhwc", weights, x_data)
        eps = (x - ops.sqrt(image_gamma) * x0) / ops.sqrt(
            ops.maximum(1 - image_gamma, 1e-12)
        )
        return eps, latents

    # Bypass Keras' attribute tracking: a plain function stands in for the
    # method that every sampling step calls.
    object.__setattr__(model, "denoise", exact_denoiser)
    return model


@pytest.fixture(scope="module")
def exact_model():
    return exact_denoiser_model()


@pytest.fixture(scope="module")
def model():
    return keras_rin.RINImageGenerator(tiny_backbone(), seed=0)


def _nearest_distances(samples):
    """Squared error of each sample to its nearest data image."""
    return ((samples[:, None] - DATA[None]) ** 2).mean((2, 3, 4)).min(1)


@pytest.mark.parametrize("spacing", noise_grids.SPACINGS)
@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m", "dpmpp_3m", "heun"])
def test_deterministic_solvers_land_on_the_data(exact_model, sampler, spacing):
    if sampler == "heun" and spacing == "time":
        # Uniform time starts at sigma ~ 1e4, where Heun's first
        # corrector overshoots; it needs more steps to recover.
        num_steps = 40
    else:
        num_steps = 15
    samples = exact_model.generate(
        num_images=6,
        num_steps=num_steps,
        sampler=sampler,
        spacing=spacing,
        seed=0,
        verbose=0,
    )
    # Squared error 1e-3 (RMS 0.03) against 0.25..0.5 between images.
    assert np.all(_nearest_distances(samples) < 1e-3), samples.mean((1, 2, 3))


@pytest.mark.parametrize("spacing", ["logsnr", "edm"])
def test_stochastic_samplers_land_on_the_data(exact_model, spacing):
    for sampler, eta in (("ddpm", 0.0), ("ddim", 1.0), ("ddim", 0.5)):
        samples = exact_model.generate(
            num_images=6,
            num_steps=30,
            sampler=sampler,
            spacing=spacing,
            eta=eta,
            seed=0,
            verbose=0,
        )
        assert np.all(_nearest_distances(samples) < 1e-3)


# --- Latents and evaluations, counted by a stand-in network ---------------


@dataclasses.dataclass
class CountingModel:
    """Predicts x0 = 0 and adds 1 to every latent, so the output latents
    count the evaluations that fed each other."""

    sampling_schedule: object = dataclasses.field(
        default_factory=schedules.CosineSchedule
    )
    prediction_target: str = "x"
    input_scale: float = 1.0

    def denoise(self, x, gamma, labels, latents, context=None, **options):
        return ops.zeros_like(x), latents + 1.0


def _count_evaluations(sampler, num_steps, corrector_latents="predictor"):
    key = sampling_loop.LoopKey(
        settings="",
        sampler=sampler,
        spacing="logsnr",
        stochastic_ddim=False,
        clip_x0=True,
        guided=False,
        num_active_latents=None,
        inpaint=False,
        resample_jumps=0,
        corrector_latents=corrector_latents,
    )
    x = keras.random.normal((2, 4, 4, 1), seed=0)
    run = sampling_loop.LoopRun(
        model=CountingModel(),
        key=key,
        template=keras.random.SeedGenerator(0),
        conditioning=(ops.zeros((2,), "int32"), None),
        num_steps=ops.convert_to_tensor(num_steps, "int32"),
        t_start=ops.convert_to_tensor(1.0),
        guidance=ops.convert_to_tensor(1.0),
        eta=ops.convert_to_tensor(0.0),
        edit=None,
    )
    seed_state = keras.random.SeedGenerator(1).state.value
    state = (x, ops.zeros((2, 3, 4)), seed_state, (x * 0, x * 0))
    bounds = (ops.convert_to_tensor(0), ops.convert_to_tensor(num_steps))
    _, latents, _, _ = sampling_loop.sampling_steps(run, state, bounds)
    return np.unique(ops.convert_to_numpy(latents))


@pytest.mark.parametrize("sampler", samplers.SAMPLERS)
def test_every_evaluation_gets_the_latents_of_the_one_before(sampler):
    # A chain of n evaluations counts n; Heun's two per step but the last.
    count = _count_evaluations(sampler, 5)
    assert count.tolist() == [samplers.network_evaluations(sampler, 5)]


def test_heun_corrector_may_take_the_predictor_input_latents():
    # With the "previous" latents, each corrector restarts from the
    # latents its predictor received: the chain grows by one per step.
    assert _count_evaluations("heun", 5, "previous").tolist() == [5]


# --- Guidance intervals ----------------------------------------------------


def _generate(model, **kwargs):
    defaults = dict(labels=[0, 1, 2], num_steps=6, seed=3, verbose=0)
    return model.generate(**{**defaults, **kwargs})


def test_the_whole_interval_is_plain_guidance(model):
    plain = _generate(model, guidance_scale=3.0, sampler="dpmpp_2m")
    whole = _generate(
        model, guidance_scale=3.0, sampler="dpmpp_2m", guidance_interval=(0, 1)
    )
    np.testing.assert_array_equal(plain, whole)


@pytest.mark.parametrize("sampler", ["heun", "ddpm"])
def test_an_empty_interval_is_no_guidance(model, sampler):
    unguided = _generate(model, guidance_scale=1.0, sampler=sampler)
    empty = _generate(
        model,
        guidance_scale=3.0,
        sampler=sampler,
        guidance_interval=(0.5, 0.5),
    )
    np.testing.assert_allclose(unguided, empty, atol=1e-6)
    guided = _generate(model, guidance_scale=3.0, sampler=sampler)
    assert np.abs(guided - unguided).max() > 1e-3


def test_an_interval_guides_only_the_steps_inside_it(model):
    options = sampling_options.SamplingOptions(
        num_steps=10,
        spacing="time",
        sampler="ddim",
        guidance_scale=2.0,
        guidance_interval=(0.3, 0.7),
        verbose=0,
    ).resolve(model)
    chunks = sampling.Sampler(model)._chunks(options)
    guided = [
        step
        for chunk in chunks
        for step in range(chunk.start, chunk.stop)
        if chunk.guided
    ]
    # Steps start at t = 1.0, 0.9, ..., 0.1: inside (0.3, 0.7] are
    # 0.7, 0.6, 0.5 and 0.4.
    assert guided == [3, 4, 5, 6]


@pytest.mark.parametrize("spacing", noise_grids.SPACINGS)
def test_planning_the_largest_step_count_is_cheap(model, spacing):
    # 2**31 - 1 steps are allowed: the plan must not list them one by one.
    options = sampling_options.SamplingOptions(
        num_steps=2**31 - 1,
        spacing=spacing,
        guidance_scale=2.0,
        guidance_interval=(0.3, 0.7),
        verbose=0,
    ).resolve(model)
    chunks = sampling.Sampler(model)._chunks(options)
    assert [chunk.guided for chunk in chunks] == [False, True, False]
    if spacing == "time":
        starts = [chunk.start / options.num_steps for chunk in chunks]
        np.testing.assert_allclose(starts, [0.0, 0.3, 0.7], atol=1e-6)


@pytest.mark.parametrize("start", sampling_options.UNCONDITIONAL_START)
def test_guidance_may_start_and_stop_inside_a_run(model, start):
    labels = np.array([0, 1, 2], "int32")
    sampler = sampling.Sampler(model)
    options = sampling_options.SamplingOptions(
        num_steps=8,
        sampler="dpmpp_2m",
        guidance_scale=3.0,
        guidance_interval=(0.3, 0.8),
        unconditional_start=start,
        seed=0,
        verbose=0,
    )
    inside = sampler.sample(options, 3, labels)
    never = sampler.sample(
        dataclasses.replace(options, guidance_interval=(0.0, 0.0)), 3, labels
    )
    assert np.isfinite(inside).all()
    assert np.abs(inside - never).max() > 1e-4


# --- Editing ---------------------------------------------------------------


def test_strength_one_is_plain_sampling(model):
    init = np.random.default_rng(0).uniform(size=(3, 8, 8, 1))
    for sampler in ("ddpm", "dpmpp_2m"):
        plain = _generate(model, sampler=sampler)
        edited = _generate(
            model, sampler=sampler, init_images=init, strength=1.0
        )
        np.testing.assert_array_equal(plain, edited)


@pytest.mark.parametrize("spacing", ["time", "logsnr"])
def test_sdedit_pulls_an_edit_to_the_nearest_data(exact_model, spacing):
    # A perturbed copy of image 1, noised to t = 0.4 and denoised, comes
    # back as image 1 (and not as the others, as from pure noise).
    noisy = np.clip(DATA[1] + 0.2 * (DATA[2] - 0.5), 0, 1)
    samples = exact_model.generate(
        init_images=np.repeat(noisy[None], 4, axis=0),
        strength=0.4,
        num_steps=10,
        spacing=spacing,
        seed=0,
        verbose=0,
    )
    np.testing.assert_allclose(samples, np.repeat(DATA[1:2], 4, 0), atol=0.05)


def test_a_small_strength_keeps_the_image(model):
    init = np.random.default_rng(1).uniform(0.2, 0.8, size=(3, 8, 8, 1))
    few = _generate(model, init_images=init, strength=0.01, sampler="ddim")
    assert np.abs(few - init).max() < 0.1
    many = _generate(model, init_images=init, strength=0.9, sampler="ddim")
    assert np.abs(many - init).max() > 0.1


@pytest.mark.parametrize("sampler", ["ddpm", "dpmpp_2m", "heun"])
def test_inpainting_keeps_the_known_pixels(model, sampler):
    init = np.random.default_rng(2).uniform(size=(3, 8, 8, 1)).astype("f4")
    mask = np.zeros((8, 8), bool)
    mask[:, 4:] = True
    samples = _generate(
        model, sampler=sampler, init_images=init, mask=mask, resample_jumps=1
    )
    np.testing.assert_array_equal(samples[:, :, :4], init[:, :, :4])
    assert np.abs(samples[:, :, 4:] - init[:, :, 4:]).max() > 0.05


def test_inpainting_completes_the_image_that_the_known_pixels_belong_to(
    exact_model,
):
    # The top half of image 0 belongs to no other image: the exact
    # denoiser fills in the rest of image 0.
    init = np.repeat(DATA[:1], 4, axis=0)
    mask = np.zeros((8, 8, 1), bool)
    mask[4:] = True
    samples = exact_model.generate(
        init_images=init,
        mask=mask,
        num_steps=20,
        sampler="ddpm",
        spacing="time",
        seed=0,
        verbose=0,
    )
    # DDPM's last step adds noise of deviation ~0.04: close on average.
    errors = ((samples[:, None] - DATA[None]) ** 2).mean((2, 3, 4))
    assert np.all(errors.argmin(axis=1) == 0), errors
    assert np.abs(samples - init).mean() < 0.03


def test_uint8_images_and_one_image_without_the_batch_axis(model):
    image = (np.random.default_rng(3).uniform(size=(8, 8, 1)) * 255).astype(
        "uint8"
    )
    mask = np.ones((8, 8), bool)
    mask[0] = False
    samples = model.generate(
        labels=[2], init_images=image, mask=mask, num_steps=3, verbose=0
    )
    np.testing.assert_allclose(samples[0, 0], image[0] / 255.0, atol=1e-7)


def test_video_inpainting_keeps_the_known_pixels():
    model = keras_rin.RINVideoPredictor(
        tiny_video_backbone(), num_context_frames=2
    )
    rng = np.random.default_rng(4)
    context = rng.uniform(size=(2, 2, 8, 8, 3)).astype("float32")
    init = rng.uniform(size=(2, 2, 8, 8, 3)).astype("float32")
    mask = np.ones((2, 8, 8), bool)
    mask[0, :2] = False  # the top rows of the first predicted frame
    clips = model.generate(
        context, init_frames=init, mask=mask, num_steps=3, seed=0, verbose=0
    )
    np.testing.assert_array_equal(clips[:, :2], context)
    np.testing.assert_array_equal(clips[:, 2, :2], init[:, 0, :2])
    edited = model.generate(
        context, init_frames=init, strength=0.5, num_steps=3, seed=0, verbose=0
    )
    assert edited.shape == clips.shape and np.isfinite(edited).all()


# --- Compiled loops, seeds and the model's defaults ------------------------


def test_one_compiled_loop_serves_steps_strength_scale_and_eta(model):
    init = np.full((3, 8, 8, 1), 0.5, "float32")
    _generate(model, sampler="ddim", eta=0.5, num_steps=4, guidance_scale=2.0)
    compiled = dict(model._sampling._compiled)
    _generate(model, sampler="ddim", eta=0.9, num_steps=7, guidance_scale=3.0)
    _generate(
        model,
        sampler="ddim",
        eta=0.2,
        num_steps=5,
        guidance_scale=1.5,
        init_images=init,
        strength=0.5,
    )
    assert model._sampling._compiled == compiled


def test_ddim_noise_is_seeded(model):
    first = _generate(model, sampler="ddim", eta=1.0, seed=5)
    again = _generate(model, sampler="ddim", eta=1.0, seed=5)
    other = _generate(model, sampler="ddim", eta=1.0, seed=6)
    deterministic = _generate(model, sampler="ddim", seed=5)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3
    assert np.abs(first - deterministic).max() > 1e-3


def test_generate_defaults_to_the_model_sampler():
    model = keras_rin.RINImageGenerator(
        tiny_backbone(),
        guidance_scale=2.0,
        sampler="heun",
        num_sampling_steps=3,
        sampling_spacing="edm",
        guidance_interval=(0.2, 0.9),
    )
    config = model.get_config()
    assert config["sampler"] == "heun" and config["num_sampling_steps"] == 3
    assert config["guidance_interval"] == [0.2, 0.9]
    restored = keras_rin.RINImageGenerator.from_config(config)
    assert restored.sampling_spacing == "edm"
    explicit = _generate(
        model,
        num_steps=3,
        sampler="heun",
        spacing="edm",
        guidance_interval=(0.2, 0.9),
    )
    default = model.generate(labels=[0, 1, 2], seed=3, verbose=0)
    np.testing.assert_array_equal(explicit, default)


def test_the_default_sampler_is_the_study_best():
    model = keras_rin.RINImageGenerator(tiny_backbone())
    assert model.sampler == sampling_options.DEFAULT_SAMPLER
    assert model.num_sampling_steps == sampling_options.DEFAULT_NUM_STEPS
    assert model.sampling_spacing == sampling_options.DEFAULT_SPACING
    assert model.guidance_interval is None


def test_read_attention_with_an_interval_and_a_spacing(model):
    images, maps = model.generate_with_read_attention(
        labels=[0, 1],
        num_steps=4,
        sampler="dpmpp_2m",
        spacing="edm",
        guidance_scale=2.0,
        guidance_interval=(0.1, 0.6),
        steps=[0, 3],
        seed=0,
        verbose=0,
    )
    plain = model.generate(
        labels=[0, 1],
        num_steps=4,
        sampler="dpmpp_2m",
        spacing="edm",
        guidance_scale=2.0,
        guidance_interval=(0.1, 0.6),
        seed=0,
        verbose=0,
    )
    np.testing.assert_allclose(images, plain, atol=1e-6)
    np.testing.assert_allclose(maps.sum(axis=(-2, -1)), 1.0, atol=1e-4)
