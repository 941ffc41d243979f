"""Elastic latents: a backbone run with a prefix of its learned latents."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rin
from tests.helpers import backbone_inputs
from tests.helpers import run_diffusion_model_test
from tests.helpers import set_self_conditioning_weights
from tests.helpers import tiny_backbone
from tests.helpers import to_numpy
from tests.helpers import toy_images

# tiny_backbone: 12 latents = 10 learned + time + class.
COUNTS = (4, 7, 12)


def _inputs(backbone, batch=3, num_latents=None, seed=0):
    return backbone_inputs(backbone, batch, seed, num_latents)


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone()
    set_self_conditioning_weights(backbone)
    return backbone


def test_all_latents_active_is_the_plain_forward(backbone):
    inputs = _inputs(backbone)
    plain = to_numpy(backbone(inputs))
    sliced = to_numpy(backbone.elastic_call(inputs, num_active_latents=12))
    mask = backbone.active_latent_mask(np.full((3,), 12))
    masked = to_numpy(backbone.elastic_call(inputs, latent_mask=mask))
    for outputs in (sliced, masked):
        for key in ("prediction", "latents"):
            np.testing.assert_allclose(outputs[key], plain[key], atol=1e-5)


@pytest.mark.parametrize("count", COUNTS[:2])
def test_a_smaller_model_with_sliced_weights_equals_the_elastic_pass(
    backbone, count
):
    small = tiny_backbone(num_latents=count)
    learned = count - backbone.num_reserved_latents
    weights = {v.path: v for v in backbone.weights}
    for variable in small.weights:
        value = ops.convert_to_numpy(weights[variable.path])
        if variable.path.endswith("learned_latents/latents"):
            value = value[:learned]
        variable.assign(value)
    inputs = _inputs(backbone, num_latents=count)
    expected = to_numpy(small(inputs))
    got = to_numpy(backbone.elastic_call(inputs, num_active_latents=count))
    for key in ("prediction", "latents"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)


def test_masked_pass_equals_the_sliced_pass_per_example(backbone):
    counts = np.array([4, 12, 7])
    full = _inputs(backbone)
    mask = backbone.active_latent_mask(counts)
    masked_latents = full["latents"] * ops.convert_to_numpy(mask)[..., None]
    masked = to_numpy(
        backbone.elastic_call(
            dict(full, latents=masked_latents), latent_mask=mask
        )
    )
    for i, count in enumerate(counts):
        example = {k: v[i : i + 1] for k, v in full.items()}
        example["latents"] = ops.convert_to_numpy(
            backbone.resize_latents(example["latents"], count)
        )
        sliced = to_numpy(
            backbone.elastic_call(example, num_active_latents=count)
        )
        np.testing.assert_allclose(
            masked["prediction"][i], sliced["prediction"][0], atol=1e-5
        )
        active = ops.convert_to_numpy(mask)[i]
        np.testing.assert_allclose(
            masked["latents"][i][active], sliced["latents"][0], atol=1e-5
        )
        assert np.all(masked["latents"][i][~active] == 0)


def test_resize_latents_keeps_reserved_slots_and_zero_fills(backbone):
    latents = np.arange(4 * 32, dtype="float32").reshape(1, 4, 32) + 1
    grown = ops.convert_to_numpy(backbone.resize_latents(latents, 7))
    assert grown.shape == (1, 7, 32)
    np.testing.assert_array_equal(grown[:, :2], latents[:, :2])
    np.testing.assert_array_equal(grown[:, 2:5], 0)
    np.testing.assert_array_equal(grown[:, 5:], latents[:, 2:])  # time, class
    shrunk = ops.convert_to_numpy(backbone.resize_latents(grown, 4))
    np.testing.assert_array_equal(shrunk, latents)


@pytest.mark.parametrize("count", [2, 13, 0, 4.0, True])
def test_invalid_active_latent_counts_raise(backbone, count):
    with pytest.raises(ValueError, match="num_active_latents"):
        backbone.check_num_active_latents(count)


def test_latents_of_the_wrong_count_raise(backbone):
    with pytest.raises(ValueError, match=r"inputs\['latents'\]"):
        backbone.elastic_call(_inputs(backbone), num_active_latents=4)


# ----------------------------------------------------------------------
# The generator: training, compute schedules, FLOPs, saving
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def elastic_model():
    keras.utils.set_random_seed(1)
    model = keras_rin.RINImageGenerator(
        tiny_backbone(),
        elastic_latent_counts=[4, 7, 12],
        elastic_latent_probabilities=[0.25, 0.25, 0.5],
        seed=0,
    )
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    images, labels = toy_images()
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    return model


def _sample(model, **kwargs):
    defaults = dict(labels=[0, 1], num_steps=6, seed=3, verbose=0)
    return model.generate(**{**defaults, **kwargs})


def test_elastic_training_runs_and_every_count_samples(elastic_model):
    for schedule in ([(1.0, 4)], [(0.5, 4), (0.25, 7), (0.25, 12)]):
        images = _sample(elastic_model, compute_schedule=schedule)
        assert images.shape == (2, 8, 8, 1)
        assert np.all(np.isfinite(images))
    # One compiled loop per count, reused whatever the steps and schedule.
    compiled = dict(elastic_model._sampling._compiled)
    _sample(elastic_model, compute_schedule=[(0.3, 7), (0.7, 4)], num_steps=9)
    assert elastic_model._sampling._compiled == compiled
    counts = [key.num_active_latents for key in compiled]
    assert sorted(c for c in counts if c is not None) == [4, 7]


@pytest.mark.parametrize("sampler", ["heun", "dpmpp_3m", "ddpm"])
def test_compute_schedules_work_with_every_solver(elastic_model, sampler):
    schedule = [(0.5, 4), (0.5, 12)]
    images = _sample(elastic_model, sampler=sampler, compute_schedule=schedule)
    assert np.all(np.isfinite(images))
    full = _sample(elastic_model, sampler=sampler)
    assert np.abs(images - full).max() > 1e-4


def test_the_default_schedule_is_the_plain_sampler(elastic_model):
    expected = _sample(elastic_model)
    np.testing.assert_array_equal(
        _sample(elastic_model, compute_schedule=[(1.0, 12)]), expected
    )
    assert not np.allclose(
        _sample(elastic_model, compute_schedule=[(0.5, 4), (0.5, 12)]),
        expected,
    )


@pytest.mark.parametrize(
    "schedule, match",
    [
        ([(0.5, 5), (0.5, 12)], "does not allow"),
        ([(0.5, 4), (0.4, 12)], "add up to 1"),
        ([(0.5, 4, 1)], "pair"),
        ("full", "sequence"),
        ([], "empty"),
    ],
)
def test_bad_compute_schedules_raise(elastic_model, schedule, match):
    with pytest.raises(ValueError, match=match):
        _sample(elastic_model, compute_schedule=schedule)


def test_a_model_without_elastic_latents_only_allows_full_compute():
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    with pytest.raises(ValueError, match="does not allow"):
        _sample(model, compute_schedule=[(0.5, 4), (0.5, 12)])


def test_self_conditioning_hand_off_across_a_count_change(backbone):
    # 7 active latents after 4: learned slots 3..5 start from zeros.
    previous = np.ones((2, 4, backbone.latent_dim), "float32")
    grown = ops.convert_to_numpy(backbone.resize_latents(previous, 7))
    assert grown.shape == (2, 7, backbone.latent_dim)
    assert np.all(grown[:, 2:5] == 0) and np.all(grown[:, [0, 1, 5, 6]] == 1)
    outputs = backbone.elastic_call(
        dict(_inputs(backbone, batch=2, num_latents=7), latents=grown),
        num_active_latents=7,
    )
    assert tuple(outputs["latents"].shape) == (2, 7, backbone.latent_dim)


def test_flops_of_counts_and_schedules(elastic_model):
    from keras_rin.utils import count_flops
    from keras_rin.utils import count_sampling_flops

    backbone = elastic_model.backbone
    full, small = count_flops(backbone), count_flops(backbone, 4)
    assert count_flops(backbone, 12) == full
    assert small < count_flops(backbone, 7) < full
    # An elastic pass costs what a backbone built with that many latents
    # costs (its learned latents hold no FLOPs).
    config = backbone.get_config()
    for count in (4, 7):
        assert count_flops(backbone, count) == count_flops(
            dict(config, num_latents=count)
        )
    with pytest.raises(ValueError, match="num_active_latents"):
        count_flops(backbone, 2)
    schedule = [(0.5, 4), (0.5, 12)]
    assert count_sampling_flops(elastic_model, 10) == 10 * full
    assert count_sampling_flops(elastic_model, 10, schedule) == 5 * (
        small + full
    )
    assert count_sampling_flops(elastic_model, 10, guidance_scale=2.0) == (
        20 * full
    )


def test_elastic_options_survive_save_and_load(elastic_model, tmp_path):
    images, labels = toy_images(8, seed=4)
    run_diffusion_model_test(
        elastic_model,
        (images, labels),
        dict(
            labels=[0, 1], num_steps=6, compute_schedule=[(0.5, 4), (0.5, 12)]
        ),
        tmp_path,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(elastic_latent_counts=[2, 12]), "num_active_latents"),
        (dict(elastic_latent_counts=[4, 4]), "distinct"),
        (
            dict(
                elastic_latent_counts=[4, 12],
                elastic_latent_probabilities=[0.5, 0.6],
            ),
            "elastic_latent_probabilities",
        ),
        (dict(elastic_latent_probabilities=[1.0]), "needs"),
    ],
)
def test_bad_elastic_options_raise(kwargs, match):
    import keras_rin

    with pytest.raises(ValueError, match=match):
        keras_rin.RINImageGenerator(tiny_backbone(), **kwargs)


def test_self_conditioned_prediction_at_a_count_is_two_elastic_passes(
    elastic_model,
):
    backbone = elastic_model.backbone
    inputs = _inputs(backbone, batch=2, num_latents=7)
    x_t, gamma = inputs["noisy_images"], inputs["noise_levels"]
    labels = inputs["labels"]
    use = np.array([True, False])
    got = elastic_model.self_conditioned_prediction(
        x_t, gamma, labels, use, num_active_latents=7
    )
    zeros = np.zeros_like(inputs["latents"])
    first = backbone.elastic_call(
        dict(inputs, latents=zeros), num_active_latents=7
    )["latents"]
    latents = ops.convert_to_numpy(first) * use[:, None, None]
    expected = backbone.elastic_call(
        dict(inputs, latents=latents), num_active_latents=7
    )["prediction"]
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), ops.convert_to_numpy(expected), atol=1e-5
    )
    full = elastic_model.self_conditioned_prediction(x_t, gamma, labels, use)
    np.testing.assert_allclose(
        ops.convert_to_numpy(
            elastic_model.self_conditioned_prediction(
                x_t, gamma, labels, use, num_active_latents=12
            )
        ),
        ops.convert_to_numpy(full),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="num_active_latents"):
        elastic_model.self_conditioned_prediction(
            x_t, gamma, labels, use, num_active_latents=13
        )
