"""The sampling loop of RIN diffusion models.

`Sampler` draws samples from a `RINDiffusionModel` from t=1 down to t=0:
each step runs the backbone once (on the conditional and unconditional
streams together when classifier-free guidance is on), turns its
prediction into a clean estimate, clips it and takes a DDPM or DDIM step;
the latents of each step are fed to the next (latent self-conditioning),
zeros at the first.

The step loop is compiled (`ops.fori_loop`; XLA on JAX and TensorFlow),
once per sampler, clipping, guidance, active-latent count and model
settings, and reused for any number of steps. Its noise comes from a seed
state carried through the loop, so equal seeds give equal samples on every
backend. Between compiled chunks the sampler reports progress, changes the
number of active latents (compute schedules) and records read attention.

What the sampler asks of the model is small: `denoise` (one backbone pass
on the generated part), `backbone_inputs`, `target_shape`, its sampling
settings (`sampling_schedule`, `prediction_target`, `input_scale`) and its
backbone.
"""

import dataclasses
import json
import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_rin.diffusion import compute_schedules
from keras_rin.diffusion import samplers
from keras_rin.diffusion import targets
from keras_rin.utils import seeds
from keras_rin.utils import validation
from keras_rin.utils.compiled_function import compile_inference_function

# A sampling call reports progress about this many times per batch.
PROGRESS_UPDATES_PER_BATCH = 10


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How to sample: the options of `generate`, checked when created.

    Args:
        num_steps: int in `[1, 2**31 - 1]`, number of sampling steps (the
            compiled loop counts in int32).
        sampler: `"ddpm"` (ancestral) or `"ddim"` (deterministic).
        seed: int >= 0 or None (a seed drawn from NumPy's global generator).
        batch_size: int in `[1, 2**31 - 1]` or None, examples per compiled
            call (all at once).
        guidance_scale: float >= 0, or None for the model's own.
        clip_x0: bool (a real one: `"False"` is refused), clip the clean
            estimate to `[-b, b]` at each step.
        verbose: `"auto"`, 0, 1 or 2: show a progress bar (`"auto"`, 1).
        compute_schedule: None or `(fraction, num_active_latents)` pairs
            (see `keras_rin.diffusion.compute_schedules`).
        read_attention_steps: None, or increasing step indices at which to
            record the read attention (see `read_attention_steps`).
    """

    num_steps: int = 100
    sampler: str = "ddpm"
    seed: int | None = None
    batch_size: int | None = None
    guidance_scale: float | None = None
    clip_x0: bool = True
    verbose: object = "auto"
    compute_schedule: object = None
    read_attention_steps: tuple | None = None

    def __post_init__(self):
        samplers.check_sampler(self.sampler)
        self._normalise("num_steps", validation.check_count)
        self._normalise("seed", lambda _, seed: validation.check_seed(seed))
        if self.batch_size is not None:
            self._normalise("batch_size", validation.check_count)
        if self.guidance_scale is not None:
            scale = check_guidance_scale(self.guidance_scale)
            object.__setattr__(self, "guidance_scale", scale)
        self._normalise("clip_x0", validation.check_bool)
        check_verbose(self.verbose)

    def _normalise(self, name, check):
        object.__setattr__(self, name, check(name, getattr(self, name)))

    @classmethod
    def from_arguments(cls, arguments):
        """The options among a `generate` method's arguments (its
        `locals()`). The `steps` of `generate_with_read_attention` become
        `read_attention_steps` (see `read_attention_steps`)."""
        names = [f.name for f in dataclasses.fields(cls)]
        values = {name: arguments[name] for name in names if name in arguments}
        if "steps" in arguments:
            values["read_attention_steps"] = read_attention_steps(
                arguments["steps"], arguments["num_steps"]
            )
        return cls(**values)

    @property
    def guided(self):
        return self.guidance_scale is not None and self.guidance_scale != 1.0

    @property
    def show_progress(self):
        return self.verbose == 1 or self.verbose == "auto"


def check_guidance_scale(guidance_scale, conditional=True):
    """Returns a classifier-free guidance scale (finite, >= 0) as a float;
    an unconditional model (`conditional` False) allows only 1."""
    if (
        not validation.is_finite_number(guidance_scale)
        or not 0 <= guidance_scale <= validation.FLOAT32_MAX
    ):
        raise ValueError(
            "`guidance_scale` must be a finite number >= 0 (a float32: "
            f"at most {validation.FLOAT32_MAX:.4g}). "
            f"Received: guidance_scale={guidance_scale!r}"
        )
    if not conditional and guidance_scale != 1.0:
        raise ValueError(
            "`guidance_scale` needs a class-conditional model. "
            f"Received: guidance_scale={guidance_scale}"
        )
    return float(guidance_scale)


def check_verbose(verbose):
    """`verbose` of `generate`: `"auto"`, 0, 1 or 2 (Keras' values; 2 shows
    no progress bar, as 0)."""
    auto = isinstance(verbose, str) and verbose == "auto"
    if not auto and not (
        isinstance(verbose, numbers.Integral) and verbose in (0, 1, 2)
    ):
        raise ValueError(
            '`verbose` must be "auto", 0, 1 or 2. '
            f"Received: verbose={verbose!r}"
        )


def read_attention_steps(steps, num_steps):
    """`steps` of `generate_with_read_attention`: returns a tuple of
    increasing ints in `[0, num_steps)`; None gives up to 4 steps spread
    evenly from the first to the last."""
    num_steps = validation.check_count("num_steps", num_steps)
    if steps is None:
        spread = np.linspace(0, num_steps - 1, min(4, num_steps))
        return tuple(sorted({int(round(s)) for s in spread}))
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__len__"):
        raise ValueError(
            "`steps` must be a sequence of sampling step indices in "
            f"[0, num_steps={num_steps}), e.g. [0, {num_steps - 1}]. "
            f"Received: steps={steps!r}"
        )
    steps = list(steps)
    if not steps or not all(validation.is_int(s) for s in steps):
        raise ValueError(
            "`steps` must be a non-empty sequence of integer sampling "
            f"step indices in [0, num_steps={num_steps}). Received: "
            f"steps={steps!r}"
        )
    steps = [int(s) for s in steps]
    if min(steps) < 0 or max(steps) >= num_steps:
        raise ValueError(
            "`steps` must be 0-based sampling step indices in "
            f"[0, num_steps={num_steps}). Received: steps={steps}"
        )
    if any(b <= a for a, b in zip(steps[:-1], steps[1:], strict=True)):
        raise ValueError(
            "`steps` must be strictly increasing (sorted, without "
            f"repeats). Received: steps={steps}"
        )
    return tuple(steps)


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """Sampling steps `start..stop-1` run by one compiled call with
    `num_active_latents` latents, after recording the read attention at
    `start` when `read_attention` is True."""

    start: int
    stop: int
    num_active_latents: int
    read_attention: bool


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The compiled calls of one batch (`_Chunk`s), the compiled loop of
    each active-latent count, and the read-attention pass (or None)."""

    chunks: tuple
    loops: dict
    read_attention: object


@dataclasses.dataclass(frozen=True)
class _Batch:
    """The examples of one compiled batch and their noise seed."""

    labels: np.ndarray | None
    context: np.ndarray | None
    size: int
    seed: int


@dataclasses.dataclass(frozen=True)
class _LoopKey:
    """What a compiled sampling loop depends on: the model's settings (see
    `Sampler._settings`), the update rule, clipping, guidance and the
    number of active latents (None: all)."""

    settings: str
    sampler: str
    clip_x0: bool
    guided: bool
    num_active_latents: int | None


class Sampler:
    """Samples from a `RINDiffusionModel` and keeps its compiled loops.

    Args:
        model: the `RINDiffusionModel` to sample from.

    Example:
    ```python
    sampler = Sampler(model)
    options = SamplingOptions(num_steps=50, sampler="ddim", seed=0)
    labels = np.array([1, 2, 3], "int32")
    images = sampler.sample(options, num_examples=3, labels=labels)
    ```
    """

    def __init__(self, model):
        self._model = model
        self._compiled = {}

    def sample(self, options, num_examples, labels=None, context=None):
        """Samples the generated part of `num_examples` examples.

        Args:
            options: `SamplingOptions`.
            num_examples: int.
            labels: int32 NumPy `(num_examples,)` or None.
            context: float32 NumPy in model space `[-b, b]`, one entry per
                example, or None.

        Returns:
            float32 NumPy `(num_examples,) + target_shape` in [0, 1]; with
            `options.read_attention_steps`, a tuple `(samples, maps)` where
            `maps` are float32 `(num_examples, len(steps), num_blocks,
            num_tokens)`, the conditional stream's read attention.
        """
        model = self._model
        if options.guidance_scale is None:
            options = dataclasses.replace(
                options, guidance_scale=model.guidance_scale
            )
        check_guidance_scale(options.guidance_scale, bool(model.num_classes))
        plan = self._plan(options)
        seed = options.seed
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        batch_size = options.batch_size or num_examples
        num_batches = math.ceil(num_examples / batch_size)
        progress = keras.utils.Progbar(
            num_batches * options.num_steps,
            verbose=1 if options.show_progress else 0,
            unit_name="step",
        )
        samples, maps = [], []
        for index in range(num_batches):
            part = slice(index * batch_size, (index + 1) * batch_size)
            batch = _Batch(
                labels=None if labels is None else labels[part],
                context=None if context is None else context[part],
                size=min(batch_size, num_examples - index * batch_size),
                seed=seeds.batch_seed(seed, index),
            )
            done = index * options.num_steps
            x, batch_maps = self._sample_batch(
                options,
                plan,
                batch,
                lambda stop, done=done: progress.update(done + stop),
            )
            samples.append(x)
            maps.append(batch_maps)
        samples = np.concatenate(samples, axis=0)
        if options.read_attention_steps is None:
            return samples
        return samples, np.concatenate(maps, axis=0)

    def _plan(self, options):
        """The compiled calls of one batch and their functions."""
        chunks = self._chunks(options)
        settings = self._settings()
        loops = {
            chunk.num_active_latents: self._loop_function(
                options, chunk.num_active_latents, settings
            )
            for chunk in chunks
        }
        read_attention = None
        if options.read_attention_steps is not None:
            read_attention = self._read_attention_function(
                options.guided, settings
            )
        return _Plan(chunks, loops, read_attention)

    def _chunks(self, options):
        """The compiled calls of one batch: split at every change of the
        active-latent count, at every read-attention step, and every
        `num_steps / PROGRESS_UPDATES_PER_BATCH` steps for the progress
        bar."""
        model = self._model
        num_steps = options.num_steps
        segments = compute_schedules.schedule_segments(
            options.compute_schedule,
            num_steps,
            model.elastic_latent_counts or (),
            model.backbone.num_latents,
        )
        steps_per_call = num_steps
        if options.show_progress:
            steps_per_call = max(
                1, math.ceil(num_steps / PROGRESS_UPDATES_PER_BATCH)
            )
        read_steps = set(options.read_attention_steps or ())
        starts = sorted(
            set(range(0, num_steps, steps_per_call))
            | read_steps
            | {start for start, _, _ in segments}
        )
        return tuple(
            _Chunk(
                start=start,
                stop=stop,
                num_active_latents=next(
                    count for a, b, count in segments if a <= start < b
                ),
                read_attention=start in read_steps,
            )
            for start, stop in zip(
                starts, starts[1:] + [num_steps], strict=True
            )
        )

    def _sample_batch(self, options, plan, batch, report_progress):
        """Samples one batch; returns `(samples, maps)`, `maps` None unless
        read attention is recorded."""
        model = self._model
        noise_seed = keras.random.SeedGenerator(batch.seed)
        x = keras.random.normal(
            (batch.size,) + tuple(model.target_shape), seed=noise_seed
        )
        streams = 2 if options.guided else 1
        latents = ops.zeros(
            (
                batch.size * streams,
                plan.chunks[0].num_active_latents,
                model.backbone.latent_dim,
            )
        )
        labels = batch.labels
        if labels is None:
            labels = np.zeros((batch.size,), "int32")
        context = batch.context
        if context is not None:
            context = ops.convert_to_tensor(context, "float32")
        conditioning = (ops.convert_to_tensor(labels, "int32"), context)
        seed_state = ops.convert_to_tensor(noise_seed.state.value)
        guidance = ops.convert_to_tensor(options.guidance_scale, "float32")
        total = ops.convert_to_tensor(options.num_steps, "int32")
        maps = []
        for chunk in plan.chunks:
            start = ops.convert_to_tensor(chunk.start, "int32")
            if chunk.read_attention:
                value = plan.read_attention(
                    (x, latents), conditioning, (start, total)
                )
                maps.append(ops.convert_to_numpy(value))
            count = chunk.num_active_latents
            if ops.shape(latents)[1] != count:
                latents = model.backbone.resize_latents(latents, count)
            x, latents, seed_state = plan.loops[count](
                (x, latents, seed_state),
                conditioning,
                (start, ops.convert_to_tensor(chunk.stop, "int32"), total),
                guidance,
            )
            # Wait for the chunk (JAX dispatches asynchronously) so the
            # progress bar tells the truth; one value is enough.
            ops.convert_to_numpy(x[0, 0, 0, 0])
            report_progress(chunk.stop)
        samples = ops.convert_to_numpy(
            targets.inputs_to_images(
                ops.convert_to_tensor(x), model.input_scale
            )
        )
        if not maps:
            return samples, None
        return samples, np.stack(maps, axis=1).astype("float32")

    def _settings(self):
        """The model's settings as a string: the compiled functions read
        the model's attributes (schedule, prediction target, input scale,
        context frames, ...) when they are traced, so they are cached per
        value of the model's config; changing a setting compiles anew
        instead of running a stale loop. The guidance scale is an argument
        of the loop, not a setting."""
        config = dict(self._model.get_config())
        config.pop("guidance_scale", None)
        return json.dumps(config, sort_keys=True, default=repr)

    def _loop_function(self, options, count, settings):
        """The compiled sampling loop for `options` with `count` active
        latents: `(state, conditioning, bounds, guidance) -> state`, where
        `state` is `(x, latents, seed_state)`, `conditioning` is `(labels,
        context)` and `bounds` is `(start, stop, num_steps)`."""
        model = self._model
        full = model.backbone.num_latents
        key = _LoopKey(
            settings=settings,
            sampler=options.sampler,
            clip_x0=options.clip_x0,
            guided=options.guided,
            num_active_latents=None if count == full else count,
        )
        if key not in self._compiled:
            template = keras.random.SeedGenerator(0)

            def run_steps(state, conditioning, bounds, guidance):
                return _sampling_steps(
                    model, key, template, state, conditioning, bounds, guidance
                )

            self._compiled[key] = compile_inference_function(
                run_steps, model.backbone.variables
            )
        return self._compiled[key]

    def _read_attention_function(self, guided, settings):
        """The compiled pass of `generate_with_read_attention`: `((x,
        latents), conditioning, (step, num_steps))` -> the conditional
        stream's read attention at that step, float32 `(batch, num_blocks,
        num_tokens)`."""
        model = self._model
        key = ("read_attention", settings, guided)
        if key not in self._compiled:

            def read_attention(state, conditioning, bounds):
                x, latents = state
                t_now, _ = samplers.sampling_times(*bounds)
                gamma = model.sampling_schedule(t_now)
                x_all, gamma, labels, context = _streams(
                    x, gamma, conditioning, guided
                )
                inputs = model.backbone_inputs(
                    x_all, gamma, labels, latents, context
                )
                outputs = model.backbone.read_attention(inputs)
                return outputs["read_attention"][: ops.shape(x)[0]]

            self._compiled[key] = compile_inference_function(
                read_attention, model.backbone.variables
            )
        return self._compiled[key]


def _sampling_steps(
    model, key, template, state, conditioning, bounds, guidance
):
    """Runs sampling steps `start..stop-1` of `num_steps` in a loop.

    `state` is `(x, latents, seed_state)`, `conditioning` `(labels,
    context)` and `bounds` `(start, stop, num_steps)`; `template` is the
    `SeedGenerator` whose state `seed_state` carries (see `_normal_like`).
    """
    start, stop, num_steps = bounds

    def step_fn(step, carry):
        x, latents, seed_state = carry
        t_now, t_next = samplers.sampling_times(step, num_steps)
        gamma_now = model.sampling_schedule(t_now)
        gamma_next = model.sampling_schedule(t_next)
        prediction, latents = _guided_denoise(
            model, key, (x, latents), gamma_now, conditioning, guidance
        )
        x0 = targets.prediction_to_x0(
            x, prediction, gamma_now, model.prediction_target
        )
        x0 = samplers.clip_x0(x0, model.input_scale, key.clip_x0)
        if key.sampler == "ddim":
            x = samplers.ddim_step(x, x0, gamma_now, gamma_next)
            return x, latents, seed_state
        noise, seed_state = _normal_like(x, template, seed_state)
        x = samplers.ddpm_step(x, x0, gamma_now, gamma_next, noise)
        return x, latents, seed_state

    return ops.fori_loop(start, stop, step_fn, state)


def _guided_denoise(model, key, state, gamma, conditioning, guidance_scale):
    """One network evaluation at a shared noise level; with guidance, the
    conditional and unconditional streams run as one batch and combine as
    `uncond + w * (cond - uncond)`. Returns `(prediction, latents)`."""
    x, latents = state
    x, gamma, labels, context = _streams(x, gamma, conditioning, key.guided)
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


def _streams(x, gamma, conditioning, guided):
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


def _normal_like(x, template, seed_state):
    """Standard normal noise from an explicit seed state.

    The state is carried through the sampling loop instead of living in a
    variable, so every step gets new noise inside compiled loops on all
    backends (a variable update would not escape a JAX loop body).
    """
    mapping = [(template.state, seed_state)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        noise = keras.random.normal(ops.shape(x), seed=template)
        new_state = scope.get_current_value(template.state)
    return noise, new_state
