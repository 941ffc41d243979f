"""DDIM and DDPM update rules (Algorithm 5 of the RIN paper).

Each step takes the current state `x_t`, the network's clean-data estimate
`x0`, and the noise levels at the current and next times. The estimate is
clipped to `[-input_scale, input_scale]` and the noise is re-derived from
the clipped estimate, as in the official implementation.
"""

from keras import ops

from keras_rin.diffusion import targets

SAMPLERS = ("ddpm", "ddim")


def check_sampler(sampler):
    if sampler not in SAMPLERS:
        raise ValueError(
            f"`sampler` must be one of {SAMPLERS}. "
            f"Received: sampler={sampler!r}"
        )


def sampling_times(step, num_steps):
    """Times `(t_now, t_next)` of sampling step `step` (0-based) of
    `num_steps`, going from t=1 down to t=0."""
    step = ops.cast(step, "float32")
    num_steps = ops.cast(num_steps, "float32")
    t_now = 1.0 - step / num_steps
    t_next = ops.maximum(1.0 - (step + 1.0) / num_steps, 0.0)
    return t_now, t_next


def clip_x0(x0, input_scale, clip=True):
    if not clip:
        return x0
    return ops.clip(x0, -input_scale, input_scale)


def ddim_step(x_t, x0, gamma_now, gamma_next):
    """Deterministic DDIM update from `gamma_now` to `gamma_next`."""
    x_t, x0, gamma_now, gamma_next = targets.float32(
        x_t, x0, gamma_now, gamma_next
    )
    eps = targets.x0_to_eps(x_t, x0, gamma_now)
    return ops.sqrt(gamma_next) * x0 + ops.sqrt(1.0 - gamma_next) * eps


def ddpm_step(x_t, x0, gamma_now, gamma_next, noise):
    """Ancestral DDPM update from `gamma_now` to `gamma_next`.

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
