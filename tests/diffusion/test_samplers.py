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
    with pytest.raises(ValueError, match="`sampler` must be one of"):
        samplers.network_evaluations("euler", 10)
    with pytest.raises(ValueError, match="`prediction_target` must be one"):
        targets.check_prediction_target("score")


# --- DDIM with eta ------------------------------------------------------


def _posterior(x_t, gamma_now, gamma_next):
    """Mean and variance of q(x_next | x_t, x0) (NumPy, float64)."""
    alpha = gamma_now / gamma_next
    mean = (
        np.sqrt(gamma_next) * (1 - alpha) / (1 - gamma_now) * X0
        + np.sqrt(alpha) * (1 - gamma_next) / (1 - gamma_now) * x_t
    )
    variance = (1 - gamma_next) / (1 - gamma_now) * (1 - alpha)
    return mean, variance


def test_ddim_with_eta_one_is_the_posterior_step():
    gamma_now, gamma_next = 0.4, 0.8
    x_t = _numpy(targets.add_noise(X0, EPS, gamma_now))
    mean, variance = _posterior(x_t, gamma_now, gamma_next)
    zero = np.zeros_like(X0)
    got = samplers.ddim_step(x_t, X0, gamma_now, gamma_next, 1.0, zero)
    np.testing.assert_allclose(_numpy(got), mean, atol=1e-5)
    one = np.ones_like(X0)
    noisy = samplers.ddim_step(x_t, X0, gamma_now, gamma_next, 1.0, one)
    np.testing.assert_allclose(
        _numpy(noisy) - _numpy(got), np.sqrt(variance), atol=1e-5
    )


def test_ddim_eta_scales_the_noise_and_keeps_the_marginal_variance():
    gamma_now, gamma_next, eta = 0.3, 0.6, 0.5
    x_t = _numpy(targets.add_noise(X0, EPS, gamma_now))
    _, posterior_variance = _posterior(x_t, gamma_now, gamma_next)
    variance = eta**2 * posterior_variance
    zero, one = np.zeros_like(X0), np.ones_like(X0)
    mean = samplers.ddim_step(x_t, X0, gamma_now, gamma_next, eta, zero)
    # With the noise the forward process drew, the step keeps the
    # signal sqrt(gamma_next) x0 and a total noise variance 1 - gamma_next.
    direction = np.sqrt(1 - gamma_next - variance)
    np.testing.assert_allclose(
        _numpy(mean), np.sqrt(gamma_next) * X0 + direction * EPS, atol=1e-5
    )
    noisy = samplers.ddim_step(x_t, X0, gamma_now, gamma_next, eta, one)
    np.testing.assert_allclose(
        _numpy(noisy) - _numpy(mean), np.sqrt(variance), atol=1e-5
    )
    deterministic = samplers.ddim_step(x_t, X0, gamma_now, gamma_next)
    same = samplers.ddim_step(x_t, X0, gamma_now, gamma_next, 0.0, one)
    np.testing.assert_allclose(_numpy(same), _numpy(deterministic), atol=1e-6)


# --- DPM-Solver++ ---------------------------------------------------------


def _lambda(gamma):
    return 0.5 * np.log(gamma / (1 - gamma))


def _dpm_solver_pp_reference(x_t, x0s, gammas, order):
    """DPM-Solver++ in float64, written from Lu et al. (2022): Algorithm 2
    (order 2) and the third-order multistep update of their code."""
    gamma_next, gamma_now, gamma_prev, gamma_before = gammas
    lam = [_lambda(g) for g in gammas]
    h = lam[0] - lam[1]
    alpha_next = np.sqrt(gamma_next)
    sigma_ratio = np.sqrt((1 - gamma_next) / (1 - gamma_now))
    phi_1 = np.expm1(-h)
    if order == 1:
        return sigma_ratio * x_t - alpha_next * phi_1 * x0s[0]
    r = (lam[1] - lam[2]) / h
    if order == 2:
        d = (1 + 1 / (2 * r)) * x0s[0] - 1 / (2 * r) * x0s[1]
        return sigma_ratio * x_t - alpha_next * phi_1 * d
    r0, r1 = r, (lam[2] - lam[3]) / h
    d1_0 = (x0s[0] - x0s[1]) / r0
    d1_1 = (x0s[1] - x0s[2]) / r1
    d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
    d2 = (d1_0 - d1_1) / (r0 + r1)
    phi_2 = phi_1 / h + 1
    phi_3 = phi_2 / h - 0.5
    return (
        sigma_ratio * x_t
        - alpha_next * phi_1 * x0s[0]
        + alpha_next * phi_2 * d1
        - alpha_next * phi_3 * d2
    )


@pytest.mark.parametrize("order", [1, 2, 3])
def test_dpm_solver_pp_step_matches_the_reference(order):
    gammas = (0.7, 0.4, 0.2, 0.1)
    x0s = [X0, X0 * 0.8 + 0.1, X0 * 0.6 - 0.2]
    x_t = _numpy(targets.add_noise(X0, EPS, gammas[1]))
    got = samplers.dpm_solver_pp_step(x_t, x0s, gammas, order)
    expected = _dpm_solver_pp_reference(
        x_t.astype("float64"), [x.astype("float64") for x in x0s], gammas, order
    )
    np.testing.assert_allclose(_numpy(got), expected, atol=1e-4)


def test_dpm_solver_pp_first_order_is_deterministic_ddim():
    x_t = _numpy(targets.add_noise(X0, EPS, 0.3))
    x0 = X0 * 0.9
    got = samplers.dpm_solver_pp_step(x_t, (x0, X0, X0), (0.6, 0.3, 0, 0), 1)
    ddim = samplers.ddim_step(x_t, x0, 0.3, 0.6)
    np.testing.assert_allclose(_numpy(got), _numpy(ddim), atol=1e-5)


def test_dpm_solver_pp_reaches_the_clean_end():
    # gamma_next = 1 (the last step of the logSNR and EDM spacings): the
    # result is the clean estimate, with no inf or nan on the way.
    x_t = _numpy(targets.add_noise(X0, EPS, 0.99))
    got = samplers.dpm_solver_pp_step(
        x_t, (X0, X0, X0), (1.0, 0.99, 0.9, 0.8), 1
    )
    np.testing.assert_allclose(_numpy(got), X0, atol=1e-5)


def test_multistep_order_rises_with_history_and_falls_at_the_end():
    orders = [int(_numpy(samplers.multistep_order(s, 6, 3))) for s in range(6)]
    assert orders == [1, 2, 3, 3, 2, 1]
    orders = [int(_numpy(samplers.multistep_order(s, 4, 2))) for s in range(4)]
    assert orders == [1, 2, 2, 1]


# --- Every solver on a problem with a known answer ----------------------

# Data x0 ~ N(0, S**2) per pixel: the exact denoiser is linear, and the
# probability-flow ODE scales x by the ratio of the marginal deviations.
S = 0.5


def _gaussian_denoiser(x, gamma):
    return np.sqrt(gamma) * S**2 * x / (gamma * S**2 + 1 - gamma)


def _marginal_std(gamma):
    return np.sqrt(gamma * S**2 + 1 - gamma)


# Uniform in logSNR from -4 to 4.
GAMMA_START, GAMMA_END = 1 / (1 + np.exp(4.0)), 1 / (1 + np.exp(-4.0))


def _log_snr_grid(num_steps):
    return 1 / (1 + np.exp(-np.linspace(-4.0, 4.0, num_steps + 1)))


def _solve(solver, gammas, x):
    """Runs `solver` over the noise levels `gammas` with the exact
    denoiser, at full order (no lowering at the end), in NumPy via the
    package's update rules."""
    history = [None, None]
    for step in range(len(gammas) - 1):
        now, next_ = gammas[step], gammas[step + 1]
        x0 = _gaussian_denoiser(x, now)
        if solver == "ddim":
            x = _numpy(samplers.ddim_step(x, x0, now, next_))
        elif solver == "heun":
            euler = _numpy(samplers.ddim_step(x, x0, now, next_))
            x0_next = _gaussian_denoiser(euler, next_)
            x = _numpy(samplers.heun_correction(x, x0, x0_next, now, next_))
        else:
            order = min(step + 1, samplers.MULTISTEP_ORDERS[solver])
            before = [gammas[max(step - k, 0)] for k in (1, 2)]
            x0s = (x0, *(h if h is not None else x0 for h in history))
            x = _numpy(
                samplers.dpm_solver_pp_step(
                    x, x0s, (next_, now, *before), order
                )
            )
        history = [x0, history[0]]
    return x


@pytest.mark.parametrize(
    "solver,order",
    # DPM-Solver++ 3M starts with a first- and a second-order step, which
    # bound its global order by 2 as the steps shrink (not at 16 steps).
    [("ddim", 1), ("dpmpp_2m", 2), ("dpmpp_3m", 2.5), ("heun", 2)],
)
def test_each_solver_converges_at_its_order(solver, order):
    # Halving the step divides the error by about 2 ** order.
    x_start = rng.normal(size=(64,)).astype("float32")
    exact = x_start * _marginal_std(GAMMA_END) / _marginal_std(GAMMA_START)
    errors = []
    for num_steps in (16, 32):
        x = _solve(solver, _log_snr_grid(num_steps), x_start)
        errors.append(np.abs(x - exact).max())
    rate = np.log2(errors[0] / errors[1])
    assert order - 0.4 < rate < order + 0.4, (errors, rate)


def test_higher_order_solvers_are_more_accurate():
    x_start = rng.normal(size=(64,)).astype("float32")
    exact = x_start * _marginal_std(GAMMA_END) / _marginal_std(GAMMA_START)
    gammas = _log_snr_grid(32)
    errors = {
        solver: np.abs(_solve(solver, gammas, x_start) - exact).max()
        for solver in ("ddim", "dpmpp_2m", "dpmpp_3m")
    }
    assert errors["dpmpp_3m"] < errors["dpmpp_2m"] < errors["ddim"] / 4


def test_heun_correction_is_exact_for_a_single_data_point():
    # One data point: the exact clean estimate is that point at every noise
    # level, and the ODE's path is x = sqrt(gamma) x0 + sqrt(1-gamma) eps.
    x_t = _numpy(targets.add_noise(X0, EPS, 0.2))
    euler = samplers.ddim_step(x_t, X0, 0.2, 0.7)
    corrected = samplers.heun_correction(x_t, X0, X0, 0.2, 0.7)
    expected = targets.add_noise(X0, EPS, 0.7)
    np.testing.assert_allclose(_numpy(euler), _numpy(expected), atol=1e-4)
    np.testing.assert_allclose(_numpy(corrected), _numpy(expected), atol=1e-4)


@pytest.mark.parametrize(
    "sampler,steps,evaluations",
    [("heun", 1, 1), ("heun", 5, 9), ("ddim", 7, 7), ("dpmpp_3m", 3, 3)],
)
def test_network_evaluations_and_back(sampler, steps, evaluations):
    assert samplers.network_evaluations(sampler, steps) == evaluations
    assert samplers.steps_for_evaluations(sampler, evaluations) == steps
