"""The compiled body of the sampling loop: steps `start..stop-1` of a run.

Every network evaluation receives the latents of the evaluation before it
(latent self-conditioning at sampling time), across steps and across the
two evaluations of a Heun step. The clean estimate of every evaluation is
clipped to `[-b, b]` when `clip_x0` is on, and the solvers step from it.

The state carried through `ops.fori_loop` is `(x, latents, seed_state,
history)`: the samples, the latents, the seed state of the noise and, for
the multistep solvers, the clean estimates of the two steps before.
"""

import dataclasses

import keras
from keras import ops

from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import samplers
from keras_rin.diffusion import targets


@dataclasses.dataclass(frozen=True)
class LoopKey:
    """What a compiled sampling loop depends on: the model's settings (a
    string of its config), the solver, spacing, noise of DDIM, clipping,
    guidance, the number of active latents (None: all), inpainting, its
    resampling jumps and Heun's corrector latents."""

    settings: str
    sampler: str
    spacing: str
    stochastic_ddim: bool
    clip_x0: bool
    guided: bool
    num_active_latents: int | None
    inpaint: bool
    resample_jumps: int
    corrector_latents: str


@dataclasses.dataclass(frozen=True)
class LoopRun:
    """What the steps of one compiled call share: the model, the loop's
    key, the `SeedGenerator` whose state the loop carries, and the call's
    tensors: `conditioning` `(labels, context)`, `num_steps`, `t_start`
    (the time of step 0), `guidance` (the scale), `eta` (DDIM's noise) and
    `edit`, `(x_init, keep)` for inpainting (`keep` 1 on the known
    pixels) or None."""

    model: object
    key: LoopKey
    template: object
    conditioning: tuple
    num_steps: object
    t_start: object
    guidance: object
    eta: object
    edit: tuple | None

    def level(self, step):
        return noise_grids.noise_level(
            self.model.sampling_schedule,
            self.key.spacing,
            step,
            self.num_steps,
            self.t_start,
        )

    def estimate(self, x, latents, gamma):
        """One network evaluation (both guidance streams at once): returns
        the clipped clean estimate and the output latents."""
        model = self.model
        prediction, latents = guided_denoise(
            model,
            self.key,
            (x, latents),
            gamma,
            self.conditioning,
            self.guidance,
        )
        x0 = targets.prediction_to_x0(
            x, prediction, gamma, model.prediction_target
        )
        return samplers.clip_x0(
            x0, model.input_scale, self.key.clip_x0
        ), latents


def sampling_steps(run, state, bounds):
    """Runs steps `start..stop-1` of `run.num_steps`.

    Args:
        run: `LoopRun`.
        state: `(x, latents, seed_state, history)`, `history` the clean
            estimates `(previous, before)` of the multistep solvers.
        bounds: int32 `(start, stop)`.

    Returns:
        The state after the steps.
    """
    start, stop = bounds

    def step_fn(step, carry):
        new = _solver_step(run, step, carry)
        if not run.key.inpaint:
            return new
        new = _paste_known(run, step, new)
        for _ in range(run.key.resample_jumps):
            new = _resample(run, step, carry, new)
        return new

    return ops.fori_loop(start, stop, step_fn, state)


def _solver_step(run, step, carry):
    x, latents, seed_state, history = carry
    gamma_now, gamma_next = run.level(step), run.level(step + 1)
    sampler = run.key.sampler
    x0, latents = run.estimate(x, latents, gamma_now)
    if sampler == "ddpm":
        noise, seed_state = normal_like(x, run.template, seed_state)
        x = samplers.ddpm_step(x, x0, gamma_now, gamma_next, noise)
    elif sampler == "ddim":
        noise = None
        if run.key.stochastic_ddim:
            noise, seed_state = normal_like(x, run.template, seed_state)
        x = samplers.ddim_step(x, x0, gamma_now, gamma_next, run.eta, noise)
    elif sampler == "heun":
        x, latents = _heun(run, step, (x, x0, latents, carry[1]))
    else:
        x, history = _multistep(run, step, (x, x0, history))
    return x, latents, seed_state, history


def _multistep(run, step, values):
    """DPM-Solver++ of order 2 or 3; returns the state and the history."""
    x, x0, (x0_previous, x0_before) = values
    gamma_history = tuple(
        run.level(ops.maximum(step + offset, 0)) for offset in (1, 0, -1, -2)
    )
    order = samplers.multistep_order(
        step, run.num_steps, samplers.MULTISTEP_ORDERS[run.key.sampler]
    )
    x = samplers.dpm_solver_pp_step(
        x, (x0, x0_previous, x0_before), gamma_history, order
    )
    return x, (x0, x0_previous)


def _heun(run, step, values):
    """Heun's step: the Euler (DDIM) predictor, then the corrector's second
    evaluation, except at the last step (Euler only, as in EDM). Returns
    the state and the latents of the last evaluation."""
    x, x0, latents, latents_before = values
    gamma_now, gamma_next = run.level(step), run.level(step + 1)
    x_euler = samplers.ddim_step(x, x0, gamma_now, gamma_next)
    corrector_input = latents
    if run.key.corrector_latents == "previous":
        corrector_input = latents_before

    def correct():
        x0_next, latents_next = run.estimate(
            x_euler, corrector_input, gamma_next
        )
        corrected = samplers.heun_correction(
            x, x0, x0_next, gamma_now, gamma_next
        )
        return corrected, latents_next

    last = ops.equal(ops.cast(step, "int32") + 1, run.num_steps)
    return ops.cond(last, lambda: (x_euler, latents), correct)


def _paste_known(run, step, carry):
    """RePaint: the known pixels become the initial data noised to the
    step's end."""
    x, latents, seed_state, history = carry
    x_init, keep = run.edit
    noise, seed_state = normal_like(x, run.template, seed_state)
    known = targets.add_noise(x_init, noise, run.level(step + 1))
    x = keep * known + (1.0 - keep) * x
    return x, latents, seed_state, history


def _resample(run, step, before, after):
    """One RePaint resampling jump: noise the step's result back to the
    step's start and take the step again (with the latents and the noise
    stream it reached)."""
    x, latents, seed_state, _ = after
    gamma_now, gamma_next = run.level(step), run.level(step + 1)
    kept = gamma_now / gamma_next
    noise, seed_state = normal_like(x, run.template, seed_state)
    x = ops.sqrt(kept) * x + ops.sqrt(ops.maximum(1.0 - kept, 0.0)) * noise
    new = _solver_step(run, step, (x, latents, seed_state, before[3]))
    return _paste_known(run, step, new)


def guided_denoise(model, key, state, gamma, conditioning, guidance_scale):
    """One network evaluation at a shared noise level; with guidance, the
    conditional and unconditional streams run as one batch and combine as
    `uncond + w * (cond - uncond)`. Returns `(prediction, latents)`."""
    x, latents = state
    x, gamma, labels, context = streams(x, gamma, conditioning, key.guided)
    prediction, latents = model.denoise(
        x,
        gamma,
        labels,
        latents,
        context,
        num_active_latents=key.num_active_latents,
    )
    if key.guided:
        conditional, unconditional = ops.split(prediction, 2, axis=0)
        prediction = unconditional + guidance_scale * (
            conditional - unconditional
        )
    return prediction, latents


def streams(x, gamma, conditioning, guided):
    """The batch of one network evaluation at a shared noise level `gamma`:
    with guidance, the conditional stream (first half) and the
    unconditional one (labels -1). Returns `(x, gamma, labels, context)`."""
    labels, context = conditioning
    if guided:
        x = ops.concatenate([x, x], axis=0)
        labels = ops.concatenate([labels, -ops.ones_like(labels)], axis=0)
        if context is not None:
            context = ops.concatenate([context, context], axis=0)
    gamma = ops.broadcast_to(gamma, (ops.shape(x)[0],))
    return x, gamma, labels, context


def normal_like(x, template, seed_state):
    """Standard normal noise shaped like `x` from an explicit seed state
    (see `normal`)."""
    return normal(ops.shape(x), template, seed_state)


def normal(shape, template, seed_state):
    """Standard normal noise from an explicit seed state: returns the
    noise and the next state.

    The state is carried through the sampling loop instead of living in a
    variable, so every step gets new noise inside compiled loops on all
    backends (a variable update would not escape a JAX loop body). A
    `SeedGenerator(seed)` starts at the state `[seed, 0]`.
    """
    mapping = [(template.state, seed_state)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        noise = keras.random.normal(shape, seed=template)
        new_state = scope.get_current_value(template.state)
    return noise, new_state
