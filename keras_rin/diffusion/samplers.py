"""Update rules of the samplers: DDPM, DDIM (with `eta`), DPM-Solver++
(2M and 3M) and Heun's method.

Each rule moves the state `x` from noise level `gamma_now` to `gamma_next`
(the variance-preserving `x = sqrt(gamma) x0 + sqrt(1 - gamma) eps`) given
the network's clean-data estimate `x0`, already clipped to
`[-input_scale, input_scale]`; the noise is re-derived from the clipped
estimate, as in the official implementation. All arithmetic is float32.

In the terms of Lu et al. (2022): `alpha = sqrt(gamma)`,
`sigma = sqrt(1 - gamma)` and `lambda = log(alpha / sigma)`, half the
logSNR `log(gamma / (1 - gamma))`.

Reference:
- [Ho et al., 2020 (DDPM)](https://arxiv.org/abs/2006.11239)
- [Song et al., 2021 (DDIM)](https://arxiv.org/abs/2010.02502)
- [Lu et al., 2022 (DPM-Solver++)](https://arxiv.org/abs/2211.01095)
- [Karras et al., 2022 (EDM)](https://arxiv.org/abs/2206.00364)
"""

from keras import ops

from keras_rin.diffusion import targets

SAMPLERS = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_3m", "heun")

# The order of each multistep solver (DPM-Solver++).
MULTISTEP_ORDERS = {"dpmpp_2m": 2, "dpmpp_3m": 3}

# Keeps sigma away from 0 where gamma rounds to 1 (the clean end).
_MIN_VARIANCE = 1e-12


def check_sampler(sampler):
    if sampler not in SAMPLERS:
        raise ValueError(
            f"`sampler` must be one of {SAMPLERS}. "
            f"Received: sampler={sampler!r}"
        )


def network_evaluations(sampler, num_steps):
    """Network evaluations per sample of `num_steps` steps (not counting
    the doubled batch of classifier-free guidance): one per step, and for
    Heun two per step but the last, which is an Euler step (as in EDM)."""
    check_sampler(sampler)
    if sampler == "heun":
        return 2 * num_steps - 1
    return num_steps


def steps_for_evaluations(sampler, num_evaluations):
    """The largest number of steps whose `network_evaluations` is at most
    `num_evaluations` (at least 1)."""
    if sampler == "heun":
        return max(1, (num_evaluations + 1) // 2)
    return max(1, num_evaluations)


def clip_x0(x0, input_scale, clip=True):
    if not clip:
        return x0
    return ops.clip(x0, -input_scale, input_scale)


def half_log_snr(gamma):
    """`lambda = log(sqrt(gamma) / sqrt(1 - gamma))`, finite at gamma = 1."""
    (gamma,) = targets.float32(gamma)
    variance = ops.maximum(1.0 - gamma, _MIN_VARIANCE)
    return 0.5 * (ops.log(gamma) - ops.log(variance))


def ddim_step(x_t, x0, gamma_now, gamma_next, eta=0.0, noise=None):
    """DDIM update from `gamma_now` to `gamma_next` (Song et al., eq. 12).

    `eta` in [0, 1] sets the noise added: 0 is the deterministic update
    (the ODE's Euler step in `x / alpha`), 1 the ancestral step with the
    posterior variance of `q(x_next | x_t, x0)`. `noise` is a standard
    normal draw shaped like `x_t`, needed when `eta` > 0.
    """
    x_t, x0, gamma_now, gamma_next, eta = targets.float32(
        x_t, x0, gamma_now, gamma_next, eta
    )
    eps = targets.x0_to_eps(x_t, x0, gamma_now)
    variance = eta**2 * _posterior_variance(gamma_now, gamma_next)
    direction = ops.sqrt(ops.maximum(1.0 - gamma_next - variance, 0.0))
    x_next = ops.sqrt(gamma_next) * x0 + direction * eps
    if noise is None:
        return x_next
    (noise,) = targets.float32(noise)
    return x_next + ops.sqrt(variance) * noise


def _posterior_variance(gamma_now, gamma_next):
    """Variance of `q(x_next | x_t, x0)`: `(1 - g_next) / (1 - g_now) *
    (1 - g_now / g_next)`."""
    one_minus_now = ops.maximum(1.0 - gamma_now, _MIN_VARIANCE)
    variance = (1.0 - gamma_next) / one_minus_now
    return ops.maximum(variance * (1.0 - gamma_now / gamma_next), 0.0)


def ddpm_step(x_t, x0, gamma_now, gamma_next, noise):
    """Ancestral DDPM update from `gamma_now` to `gamma_next`, with the
    official implementation's variance `1 - gamma_now / gamma_next` (the
    forward step's, larger than the posterior's of `ddim_step(eta=1)`).

    `noise` is a standard normal draw of the shape of `x_t`.
    """
    x_t, x0, gamma_now, gamma_next, noise = targets.float32(
        x_t, x0, gamma_now, gamma_next, noise
    )
    eps = targets.x0_to_eps(x_t, x0, gamma_now)
    alpha_now = gamma_now / gamma_next
    sigma_now = ops.sqrt(ops.maximum(1.0 - alpha_now, 0.0))
    one_minus_gamma = ops.maximum(1.0 - gamma_now, 1e-12)
    mean = (
        x_t - (1.0 - alpha_now) / ops.sqrt(one_minus_gamma) * eps
    ) / ops.sqrt(alpha_now)
    return mean + sigma_now * noise


def dpm_solver_pp_step(x_t, x0_history, gamma_history, order):
    """DPM-Solver++ multistep update with data prediction (Lu et al., 2022:
    Algorithm 2 for order 2, the third-order multistep update of their
    code for order 3).

    Args:
        x_t: the state at `gamma_history[1]`.
        x0_history: `(x0_now, x0_previous, x0_before)`, the clean estimates
            at the current step and the two before it (the unused ones may
            be anything finite).
        gamma_history: `(gamma_next, gamma_now, gamma_previous,
            gamma_before)`, the noise levels of those steps and the next.
        order: int scalar (a tensor inside compiled loops) in {1, 2, 3};
            1 is DDIM's deterministic step.

    Returns:
        The state at `gamma_next`.
    """
    (x_t,) = targets.float32(x_t)
    x0_now, x0_previous, x0_before = targets.float32(*x0_history)
    gamma_next, gamma_now = targets.float32(*gamma_history[:2])
    lambdas = [half_log_snr(gamma) for gamma in gamma_history]
    h = lambdas[0] - lambdas[1]
    r0 = (lambdas[1] - lambdas[2]) / h
    r1 = (lambdas[2] - lambdas[3]) / h
    # phi_1 = expm1(-h), from the ratio that stays exact at gamma_next = 1.
    sigma_ratio = ops.sqrt(
        ops.maximum(1.0 - gamma_next, 0.0)
        / ops.maximum(1.0 - gamma_now, _MIN_VARIANCE)
    )
    phi_1 = sigma_ratio * ops.sqrt(gamma_now / gamma_next) - 1.0
    phi_2 = phi_1 / h + 1.0
    phi_3 = phi_2 / h - 0.5
    alpha_next = ops.sqrt(gamma_next)
    first = sigma_ratio * x_t - alpha_next * phi_1 * x0_now
    d1_0 = (x0_now - x0_previous) / r0
    d1_1 = (x0_previous - x0_before) / r1
    second = first - 0.5 * alpha_next * phi_1 * d1_0
    d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
    d2 = (d1_0 - d1_1) / (r0 + r1)
    third = first + alpha_next * (phi_2 * d1 - phi_3 * d2)
    order = ops.cast(order, "int32")
    return ops.where(order >= 3, third, ops.where(order == 2, second, first))


def multistep_order(step, num_steps, max_order):
    """The order DPM-Solver++ uses at `step` of `num_steps`: lower at the
    start (no history yet) and at the end (the last step goes to the clean
    data, the one before it at most second order, as in `diffusers`'
    `lower_order_final`)."""
    step = ops.cast(step, "int32")
    num_steps = ops.cast(num_steps, "int32")
    order = ops.minimum(step + 1, num_steps - step)
    return ops.minimum(order, max_order)


def heun_correction(x_t, x0_now, x0_next, gamma_now, gamma_next):
    """Heun's corrector (Karras et al., 2022, Algorithm 1): the state at
    `gamma_next` from the slopes of the probability-flow ODE at both ends.

    In EDM's variables `y = x / alpha`, `s = sigma / alpha`, the slope is
    `(y - x0) / s`; the predictor (`ddim_step`) took the Euler step with
    the slope at `gamma_now`, `x0_next` is the estimate at its result, and
    the corrector steps with the mean of the two slopes.
    """
    x_t, x0_now, x0_next, gamma_now, gamma_next = targets.float32(
        x_t, x0_now, x0_next, gamma_now, gamma_next
    )
    alpha_now, alpha_next = ops.sqrt(gamma_now), ops.sqrt(gamma_next)
    s_now = ops.sqrt(ops.maximum(1.0 - gamma_now, _MIN_VARIANCE)) / alpha_now
    s_next = ops.sqrt(ops.maximum(1.0 - gamma_next, _MIN_VARIANCE)) / alpha_next
    y_now = x_t / alpha_now
    slope_now = (y_now - x0_now) / s_now
    y_euler = x0_now + s_next * slope_now
    slope_next = (y_euler - x0_next) / s_next
    y_next = y_now + (s_next - s_now) * 0.5 * (slope_now + slope_next)
    return alpha_next * y_next
