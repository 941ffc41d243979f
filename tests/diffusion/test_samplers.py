import numpy as np
import pytest
from keras import ops

from keras_rin.diffusion import samplers
from keras_rin.diffusion import schedules
from keras_rin.diffusion import targets

rng = np.random.default_rng(0)
X0 = rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
EPS = rng.normal(size=(4, 8, 8, 3)).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("gamma_now,gamma_next", [(0.3, 0.7), (1e-4, 0.5)])
def test_ddim_with_exact_x0_inverts_the_forward_process(gamma_now, gamma_next):
    x_t = targets.add_noise(X0, EPS, gamma_now)
    x_next = samplers.ddim_step(x_t, X0, gamma_now, gamma_next)
    expected = targets.add_noise(X0, EPS, gamma_next)
    np.testing.assert_allclose(_numpy(x_next), _numpy(expected), atol=1e-4)


def test_ddim_chain_with_exact_eps_recovers_the_data():
    schedule = schedules.CosineSchedule()
    num_steps = 20
    x = targets.add_noise(X0, EPS, schedule(0.97))
    for step in range(num_steps):
        t_now = 0.97 * (1 - step / num_steps)
        t_next = 0.97 * (1 - (step + 1) / num_steps)
        gamma_now, gamma_next = schedule(t_now), schedule(t_next)
        x0 = targets.prediction_to_x0(x, EPS, gamma_now, "eps")
        x = samplers.ddim_step(x, x0, gamma_now, gamma_next)
    np.testing.assert_allclose(_numpy(x), X0, atol=2e-3)


def test_ddpm_mean_is_the_gaussian_posterior_mean():
    gamma_now, gamma_next = 0.4, 0.8
    alpha = gamma_now / gamma_next
    x_t = _numpy(targets.add_noise(X0, EPS, gamma_now))
    # q(x_s | x_t, x_0) of a variance-preserving process.
    expected = (
        np.sqrt(gamma_next) * (1 - alpha) / (1 - gamma_now) * X0
        + np.sqrt(alpha) * (1 - gamma_next) / (1 - gamma_now) * x_t
    )
    got = samplers.ddpm_step(x_t, X0, gamma_now, gamma_next, np.zeros_like(X0))
    np.testing.assert_allclose(_numpy(got), expected, atol=1e-5)
    noise = np.ones_like(X0)
    with_noise = samplers.ddpm_step(x_t, X0, gamma_now, gamma_next, noise)
    np.testing.assert_allclose(
        _numpy(with_noise) - _numpy(got),
        np.sqrt(1 - alpha) * noise,
        atol=1e-5,
    )


@pytest.mark.parametrize("target", ["eps", "x", "v"])
def test_exact_prediction_recovers_x0_for_every_target(target):
    gamma = 0.35
    x_t = targets.add_noise(X0, EPS, gamma)
    prediction = targets.training_target(X0, EPS, gamma, target)
    x0 = targets.prediction_to_x0(x_t, prediction, gamma, target)
    np.testing.assert_allclose(_numpy(x0), X0, atol=1e-4)
    eps = targets.x0_to_eps(x_t, x0, gamma)
    np.testing.assert_allclose(_numpy(eps), EPS, atol=1e-3)


def test_clip_x0_uses_input_scale():
    clipped = samplers.clip_x0(np.array([-3.0, 0.2, 3.0]), input_scale=0.5)
    np.testing.assert_allclose(_numpy(clipped), [-0.5, 0.2, 0.5])
    unclipped = samplers.clip_x0(np.array([3.0]), 0.5, clip=False)
    np.testing.assert_allclose(_numpy(unclipped), [3.0])


def test_sampling_times_go_from_one_to_zero():
    times = [samplers.sampling_times(s, 4) for s in range(4)]
    t_now = [float(_numpy(t)) for t, _ in times]
    t_next = [float(_numpy(t)) for _, t in times]
    np.testing.assert_allclose(t_now, [1.0, 0.75, 0.5, 0.25])
    np.testing.assert_allclose(t_next, [0.75, 0.5, 0.25, 0.0])


def test_images_round_trip_through_input_scaling():
    images = rng.uniform(0, 1, (2, 4, 4, 3)).astype("float32")
    x = targets.images_to_inputs(images, 0.5)
    assert _numpy(x).min() >= -0.5 and _numpy(x).max() <= 0.5
    np.testing.assert_allclose(
        _numpy(targets.inputs_to_images(x, 0.5)), images, atol=1e-6
    )


def test_unknown_sampler_and_target_raise():
    with pytest.raises(ValueError, match="`sampler` must be one of"):
        samplers.check_sampler("euler")
    with pytest.raises(ValueError, match="`prediction_target` must be one"):
        targets.check_prediction_target("score")
