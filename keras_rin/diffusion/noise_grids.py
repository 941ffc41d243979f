"""Where the sampling steps go: the noise levels of a sampling run.

A run of `num_steps` steps visits `num_steps + 1` noise levels
`gamma_0 < gamma_1 < ... < gamma_N`, from the noisiest on. Three spacings:

- `"time"`: uniform in the time `t` of the sampling schedule,
  `gamma_i = gamma(t_start * (1 - i / N))` (the official implementation's,
  and keras-rin's before the fast solvers).
- `"logsnr"`: uniform in logSNR `log(gamma / (1 - gamma))`, the spacing of
  DPM-Solver.
- `"edm"`: Karras et al.'s spacing, uniform in `sigma ** (1 / 7)` for
  `sigma = sqrt((1 - gamma) / gamma)` (EDM's noise level).

The last two span sigma in EDM's `[0.002, 80]` (logSNR from -8.8 to 12.4),
narrowed to the sampling schedule's own range (and, for image editing, to
the noise level of `t_start`), then take a last step to the clean data
(`gamma_N = 1`). Beyond sigma 80 the data is invisible under the noise;
starting there from pure noise changes nothing that matters and saves the
steps that uniform time spends there.

Every function takes the step as a tensor, so one compiled sampling loop
serves any number of steps.

Reference:
- [Lu et al., 2022 (DPM-Solver)](https://arxiv.org/abs/2206.00927)
- [Karras et al., 2022 (EDM)](https://arxiv.org/abs/2206.00364)
"""

import math

import numpy as np
from keras import ops

SPACINGS = ("time", "logsnr", "edm")

EDM_SIGMA_MIN = 0.002
EDM_SIGMA_MAX = 80.0
EDM_RHO = 7.0
LOG_SNR_MIN = -2.0 * math.log(EDM_SIGMA_MAX)
LOG_SNR_MAX = -2.0 * math.log(EDM_SIGMA_MIN)


def check_spacing(spacing):
    if spacing not in SPACINGS:
        raise ValueError(
            f"`spacing` must be one of {SPACINGS}. "
            f"Received: spacing={spacing!r}"
        )


def log_snr(gamma):
    """`log(gamma / (1 - gamma))`, finite at gamma = 0 and 1."""
    gamma = ops.cast(ops.convert_to_tensor(gamma), "float32")
    gamma = ops.clip(gamma, 1e-20, 1.0)
    return ops.log(gamma) - ops.log(ops.maximum(1.0 - gamma, 1e-20))


def noise_level(schedule, spacing, step, num_steps, t_start=1.0):
    """`gamma_step`, the noise level at which step `step` (0-based) of
    `num_steps` starts; `step = num_steps` is where the last one ends.

    Args:
        schedule: the model's sampling schedule, `gamma(t)`.
        spacing: one of `SPACINGS`.
        step: int scalar (a tensor inside compiled loops), in
            `[0, num_steps]`.
        num_steps: int scalar.
        t_start: float scalar in (0, 1], the time of the first step (1:
            pure noise; less for image editing).

    Returns:
        float32 scalar.
    """
    step = ops.cast(step, "float32")
    num_steps = ops.cast(num_steps, "float32")
    t_start = ops.cast(t_start, "float32")
    if spacing == "time":
        return schedule(t_start * ops.maximum(1.0 - step / num_steps, 0.0))
    low = ops.maximum(LOG_SNR_MIN, log_snr(schedule(t_start)))
    high = ops.minimum(LOG_SNR_MAX, log_snr(schedule(0.0)))
    low = ops.minimum(low, high)
    fraction = step / ops.maximum(num_steps - 1.0, 1.0)
    if spacing == "logsnr":
        level = low + fraction * (high - low)
    else:
        inverse_rho = 1.0 / EDM_RHO
        sigma_max = ops.exp(-0.5 * low) ** inverse_rho
        sigma_min = ops.exp(-0.5 * high) ** inverse_rho
        sigma = (sigma_max + fraction * (sigma_min - sigma_max)) ** EDM_RHO
        level = -2.0 * ops.log(sigma)
    gamma = ops.sigmoid(level)
    return ops.where(step >= num_steps, ops.ones_like(gamma), gamma)


def step_times(schedule, spacing, num_steps, t_start=1.0, steps=None):
    """The time `t` at which each step starts, float64 NumPy: the
    schedule's inverse at the step's noise level (what `guidance_interval`
    compares with). It falls as the step grows.

    Args:
        schedule, spacing, num_steps, t_start: as in `noise_level`.
        steps: int NumPy array of the steps, or None for all
            `num_steps`.
    """
    steps = np.arange(num_steps) if steps is None else np.asarray(steps)
    if spacing == "time":
        return t_start * (1.0 - steps / num_steps)
    levels = ops.convert_to_numpy(
        noise_level(schedule, spacing, steps, num_steps, t_start)
    ).astype("float64")
    return schedule_inverse(schedule, levels)


def schedule_inverse(schedule, gamma, resolution=100_001):
    """The time `t` in [0, 1] with `schedule(t) = gamma`, for a decreasing
    schedule, by interpolation on a dense grid (NumPy, float64)."""
    times = np.linspace(0.0, 1.0, resolution)
    values = ops.convert_to_numpy(schedule(times)).astype("float64")
    # np.interp needs increasing x: reverse the decreasing schedule.
    return np.interp(gamma, values[::-1], times[::-1])
