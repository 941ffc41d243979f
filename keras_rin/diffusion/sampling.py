"""The sampling loop of RIN diffusion models.

`Sampler` draws samples from a `RINDiffusionModel` from t=1 (or, for
image editing, from `t = strength`) down to t=0: each step runs the
backbone once or, for Heun's method, twice (on the conditional and
unconditional streams together when classifier-free guidance is on),
turns its prediction into a clean estimate, clips it and takes a step of
the solver (`keras_rin.diffusion.samplers`) to the next noise level of the
spacing (`keras_rin.diffusion.noise_grids`). Every evaluation receives the
latents of the one before it (latent self-conditioning), zeros at the
first.

The step loop is compiled (`ops.fori_loop`; XLA on JAX and TensorFlow),
once per solver, spacing, clipping, guidance mode, active-latent count,
editing mode and model settings, and reused for any number of steps,
strength, guidance scale and `eta`. Its noise comes from a seed state
carried through the loop, so equal seeds give equal samples on every
backend. Between compiled chunks the sampler reports progress, changes the
number of active latents (compute schedules), starts or stops guidance
(`guidance_interval`) and records read attention.

What the sampler asks of the model is small: `denoise` (one backbone pass
on the generated part), `backbone_inputs`, `target_shape`, its sampling
settings (`sampling_schedule`, `prediction_target`, `input_scale`) and its
backbone.
"""

import bisect
import dataclasses
import json
import math

import keras
import numpy as np
from keras import ops

from keras_rin.diffusion import compute_schedules
from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import sampling_loop
from keras_rin.diffusion import targets
from keras_rin.utils import seeds
from keras_rin.utils.compiled_function import compile_inference_function

# A sampling call reports progress about this many times per batch.
PROGRESS_UPDATES_PER_BATCH = 10


@dataclasses.dataclass(frozen=True)
class Edit:
    """What image editing gives the sampler, for all examples.

    Args:
        data: float32 NumPy `(num_examples,) + target_shape` in [0, 1], the
            initial data (noised to `strength` for SDEdit; its known
            pixels kept when inpainting).
        keep: None, or bool NumPy of the same shape: True on the known
            pixels (inpainting).
    """

    data: np.ndarray
    keep: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """Sampling steps `start..stop-1` run by one compiled call with
    `num_active_latents` latents, with guidance or not, after recording the
    read attention at `start` when `read_attention` is True."""

    start: int
    stop: int
    num_active_latents: int
    guided: bool
    read_attention: bool


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The compiled calls of one batch (`_Chunk`s), the compiled loop of
    each `(active-latent count, guided)`, and the read-attention pass of
    each guidance mode."""

    chunks: tuple
    loops: dict
    read_attention: dict


@dataclasses.dataclass(frozen=True)
class _Batch:
    """The examples of one compiled batch and their noise seed."""

    labels: np.ndarray | None
    context: np.ndarray | None
    edit: Edit | None
    size: int
    seed: int


class Sampler:
    """Samples from a `RINDiffusionModel` and keeps its compiled loops.

    Args:
        model: the `RINDiffusionModel` to sample from.

    Example:
    ```python
    sampler = Sampler(model)
    options = sampling_options.SamplingOptions(
        num_steps=10, sampler="dpmpp_2m", seed=0)
    labels = np.array([1, 2, 3], "int32")
    images = sampler.sample(options, num_examples=3, labels=labels)
    ```
    """

    def __init__(self, model):
        self._model = model
        self._compiled = {}

    def sample(
        self, options, num_examples, labels=None, context=None, edit=None
    ):
        """Samples the generated part of `num_examples` examples.

        Args:
            options: `SamplingOptions`; the ones left as None take the
                model's defaults.
            num_examples: int.
            labels: int32 NumPy `(num_examples,)` or None.
            context: float32 NumPy in model space `[-b, b]`, one entry per
                example, or None.
            edit: `Edit` or None.

        Returns:
            float32 NumPy `(num_examples,) + target_shape` in [0, 1]; with
            `options.read_attention`, a tuple `(samples, maps)` where
            `maps` are float32 `(num_examples, len(steps), num_blocks,
            num_tokens)`, the conditional stream's read attention.
        """
        options = options.resolve(self._model)
        plan = self._plan(options, edit is not None and edit.keep is not None)
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
                edit=_edit_part(edit, part),
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
        if not options.read_attention:
            return samples
        return samples, np.concatenate(maps, axis=0)

    def _plan(self, options, inpaint):
        """The compiled calls of one batch and their functions."""
        chunks = self._chunks(options)
        settings = self._settings()
        loops = {
            (chunk.num_active_latents, chunk.guided): self._loop_function(
                options,
                (chunk.num_active_latents, chunk.guided, inpaint),
                settings,
            )
            for chunk in chunks
        }
        read_attention = {}
        if options.read_attention:
            read_attention = {
                guided: self._read_attention_function(
                    options.spacing, guided, settings
                )
                for guided in {chunk.guided for chunk in chunks}
            }
        return _Plan(chunks, loops, read_attention)

    def _chunks(self, options):
        """The compiled calls of one batch: split at every change of the
        active-latent count and of guidance, at every read-attention step,
        and every `num_steps / PROGRESS_UPDATES_PER_BATCH` steps for the
        progress bar."""
        model = self._model
        num_steps = options.num_steps
        segments = compute_schedules.schedule_segments(
            options.compute_schedule,
            num_steps,
            model.elastic_latent_counts or (),
            model.backbone.num_latents,
        )
        guided_start, guided_stop = self._guided_steps(options)
        steps_per_call = num_steps
        if options.show_progress:
            steps_per_call = max(
                1, math.ceil(num_steps / PROGRESS_UPDATES_PER_BATCH)
            )
        read_steps = set(options.read_attention_steps or ())
        guidance_changes = {guided_start, guided_stop} - {num_steps}
        starts = sorted(
            set(range(0, num_steps, steps_per_call))
            | read_steps
            | guidance_changes
            | {start for start, _, _ in segments}
        )
        return tuple(
            _Chunk(
                start=start,
                stop=stop,
                num_active_latents=next(
                    count for a, b, count in segments if a <= start < b
                ),
                guided=guided_start <= start < guided_stop,
                read_attention=start in read_steps,
            )
            for start, stop in zip(
                starts, starts[1:] + [num_steps], strict=True
            )
        )

    def _guided_steps(self, options):
        """`(start, stop)`: the steps that run guidance, those whose time
        is in `(t_low, t_high]`. Time falls as the step grows, so they are
        consecutive; a bisection finds them in `log(num_steps)` times."""
        if not options.guided:
            return 0, 0
        num_steps = options.num_steps

        def at_or_below(bound):
            # The float32 grid's times may miss an interval's end by
            # rounding.
            def below(step):
                time = noise_grids.step_times(
                    self._model.sampling_schedule,
                    options.spacing,
                    num_steps,
                    options.strength,
                    steps=[step],
                )[0]
                return time <= bound + 1e-6

            return bisect.bisect_left(range(num_steps), True, key=below)

        low, high = options.guidance_interval
        start = at_or_below(high)
        return start, max(start, at_or_below(low))

    def _sample_batch(self, options, plan, batch, report_progress):
        """Samples one batch; returns `(samples, maps)`, `maps` None unless
        read attention is recorded."""
        model = self._model
        state = self._initial_state(options, batch)
        labels = batch.labels
        if labels is None:
            labels = np.zeros((batch.size,), "int32")
        context = batch.context
        if context is not None:
            context = ops.convert_to_tensor(context, "float32")
        conditioning = (ops.convert_to_tensor(labels, "int32"), context)
        call_tensors = self._call_tensors(options, batch)
        maps = []
        guided = None
        for chunk in plan.chunks:
            state = self._switch_latents(options, state, chunk, guided)
            guided = chunk.guided
            start = ops.convert_to_tensor(chunk.start, "int32")
            if chunk.read_attention:
                value = plan.read_attention[chunk.guided](
                    state[:2], conditioning, start, call_tensors[:2]
                )
                maps.append(ops.convert_to_numpy(value))
            loop = plan.loops[(chunk.num_active_latents, chunk.guided)]
            state = loop(
                state,
                conditioning,
                (start, ops.convert_to_tensor(chunk.stop, "int32")),
                call_tensors,
            )
            # Wait for the chunk (JAX dispatches asynchronously) so the
            # progress bar tells the truth; one value is enough.
            ops.convert_to_numpy(ops.reshape(state[0], (-1,))[0])
            report_progress(chunk.stop)
        samples = ops.convert_to_numpy(
            targets.inputs_to_images(
                ops.convert_to_tensor(state[0]), model.input_scale
            )
        )
        if batch.edit is not None and batch.edit.keep is not None:
            samples = np.where(batch.edit.keep, batch.edit.data, samples)
        if not maps:
            return samples, None
        return samples, np.stack(maps, axis=1).astype("float32")

    def _initial_state(self, options, batch):
        """`(x, latents, seed_state, history)` at the first step: pure
        noise, or for `strength < 1` the initial data noised to the first
        step's noise level; zero history. The latents (None here) come
        with the first chunk (`_switch_latents`)."""
        model = self._model
        noise_seed = keras.random.SeedGenerator(batch.seed)
        x = keras.random.normal(
            (batch.size,) + tuple(model.target_shape), seed=noise_seed
        )
        if batch.edit is not None and options.strength < 1:
            gamma = noise_grids.noise_level(
                model.sampling_schedule,
                options.spacing,
                0,
                options.num_steps,
                options.strength,
            )
            data = targets.images_to_inputs(
                ops.convert_to_tensor(batch.edit.data), model.input_scale
            )
            x = targets.add_noise(data, x, gamma)
        history = (ops.zeros_like(x), ops.zeros_like(x))
        seed_state = ops.convert_to_tensor(noise_seed.state.value)
        return x, None, seed_state, history

    def _call_tensors(self, options, batch):
        """The tensors every compiled call of a batch takes: `(num_steps,
        t_start, guidance, eta, edit)`, `edit` `(x_init, keep)` in model
        space for inpainting, else None."""
        edit = None
        if (
            batch is not None
            and batch.edit is not None
            and (batch.edit.keep is not None)
        ):
            data = ops.convert_to_tensor(batch.edit.data, "float32")
            edit = (
                targets.images_to_inputs(data, self._model.input_scale),
                ops.convert_to_tensor(batch.edit.keep, "float32"),
            )
        return (
            ops.convert_to_tensor(options.num_steps, "int32"),
            ops.convert_to_tensor(options.strength, "float32"),
            ops.convert_to_tensor(options.guidance_scale, "float32"),
            ops.convert_to_tensor(options.eta, "float32"),
            edit,
        )

    def _switch_latents(self, options, state, chunk, was_guided):
        """The latents for `chunk`: zeros at the first chunk
        (`was_guided` None), else resized to its active-latent count, and
        the unconditional stream added (zeros or a copy of the conditional
        one's, `options.unconditional_start`) or dropped when guidance
        starts (`was_guided` False) or stops."""
        x, latents, seed_state, history = state
        if was_guided is None:
            streams = 2 if chunk.guided else 1
            batch = ops.shape(x)[0]
            latents = ops.zeros(
                (batch * streams, chunk.num_active_latents)
                + (self._model.backbone.latent_dim,)
            )
            return x, latents, seed_state, history
        if was_guided and not chunk.guided:
            latents = latents[: ops.shape(x)[0]]
        elif chunk.guided and not was_guided:
            unconditional = latents
            if options.unconditional_start == "zeros":
                unconditional = ops.zeros_like(latents)
            latents = ops.concatenate([latents, unconditional], axis=0)
        count = chunk.num_active_latents
        if ops.shape(latents)[1] != count:
            latents = self._model.backbone.resize_latents(latents, count)
        return x, latents, seed_state, history

    def _settings(self):
        """The model's settings as a string: the compiled functions read
        the model's attributes (schedule, prediction target, input scale,
        context frames, ...) when they are traced, so they are cached per
        value of the model's config; changing a setting compiles anew
        instead of running a stale loop. The sampling defaults and the
        guidance scale are not settings (the loop gets them as arguments
        or keys). The backbone's variables are: a loop traced before LoRA
        was enabled would not see the LoRA weights."""
        config = dict(self._model.get_config())
        for name in SAMPLING_DEFAULTS:
            config.pop(name, None)
        config["backbone_variables"] = [
            v.path for v in self._model.backbone.variables
        ]
        return json.dumps(config, sort_keys=True, default=repr)

    def _loop_function(self, options, chunk_kind, settings):
        """The compiled sampling loop of `options` for `chunk_kind`, a
        tuple `(count, guided, inpaint)`: `(state, conditioning, bounds,
        call_tensors) -> state` (see `_initial_state` and
        `_call_tensors`)."""
        key = self._loop_key(options, chunk_kind, settings)
        if key not in self._compiled:
            self._compiled[key] = compile_inference_function(
                self._loop_steps(key), self._model.backbone.variables
            )
        return self._compiled[key]

    def _loop_key(self, options, chunk_kind, settings):
        count, guided, inpaint = chunk_kind
        full = self._model.backbone.num_latents
        return sampling_loop.LoopKey(
            settings=settings,
            sampler=options.sampler,
            spacing=options.spacing,
            stochastic_ddim=options.sampler == "ddim" and options.eta > 0,
            clip_x0=options.clip_x0,
            guided=guided,
            num_active_latents=None if count == full else count,
            inpaint=inpaint,
            resample_jumps=options.resample_jumps if inpaint else 0,
            corrector_latents=options.corrector_latents,
        )

    def _loop_steps(self, key):
        """The uncompiled sampling loop of a `LoopKey`."""
        model = self._model
        template = keras.random.SeedGenerator(0)

        def run_steps(state, conditioning, bounds, call_tensors):
            run = sampling_loop.LoopRun(
                model, key, template, conditioning, *call_tensors
            )
            return sampling_loop.sampling_steps(run, state, bounds)

        return run_steps

    def batch_function(self, options):
        """The whole sampling of one batch as one function of tensors, with
        no Python between the steps: `(labels, context, seed) ->
        samples`, for export (`keras_rin.models.sampler_export`).

        `labels` int32 `(batch,)` (zeros for an unconditional model),
        `context` float32 in model space or None, `seed` an int32 scalar:
        the batch's noise seed (`generate(seed=s)` draws its first batch
        with `keras_rin.utils.seeds.batch_seed(s, 0)`). Returns float32
        samples `(batch,) + target_shape` in [0, 1], those of `sample` for
        the same seed. Editing and read attention are not part of it.
        """
        model = self._model
        options = dataclasses.replace(options.resolve(model), verbose=0)
        chunks = self._chunks(options)
        settings = self._settings()
        # The compiled loops: TensorFlow's random numbers differ between
        # XLA and its graph kernels, and `generate` runs them with XLA.
        loops = {
            (c.num_active_latents, c.guided): self._loop_function(
                options, (c.num_active_latents, c.guided, False), settings
            )
            for c in chunks
        }
        template = keras.random.SeedGenerator(0)
        call_tensors = self._call_tensors(options, None)

        def sample(labels, context, seed):
            size = ops.shape(labels)[0]
            seed_state = ops.stack(
                [ops.cast(seed, "uint32"), ops.zeros((), "uint32")]
            )
            x, seed_state = sampling_loop.normal(
                (size,) + tuple(model.target_shape), template, seed_state
            )
            state = (x, None, seed_state, (ops.zeros_like(x),) * 2)
            guided = None
            for chunk in chunks:
                state = self._switch_latents(options, state, chunk, guided)
                guided = chunk.guided
                state = loops[(chunk.num_active_latents, chunk.guided)](
                    state,
                    (labels, context),
                    (chunk.start, chunk.stop),
                    call_tensors,
                )
            return targets.inputs_to_images(state[0], model.input_scale)

        return sample

    def _read_attention_function(self, spacing, guided, settings):
        """The compiled pass of `generate_with_read_attention`: `((x,
        latents), conditioning, step, (num_steps, t_start))` -> the
        conditional stream's read attention at that step, float32
        `(batch, num_blocks, num_tokens)`."""
        model = self._model
        key = ("read_attention", settings, spacing, guided)
        if key not in self._compiled:

            def read_attention(state, conditioning, step, grid):
                x, latents = state
                num_steps, t_start = grid
                gamma = noise_grids.noise_level(
                    model.sampling_schedule, spacing, step, num_steps, t_start
                )
                x_all, gamma, labels, context = sampling_loop.streams(
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


# The model's config entries that say how to sample by default.
SAMPLING_DEFAULTS = (
    "guidance_scale",
    "guidance_interval",
    "sampler",
    "num_sampling_steps",
    "sampling_spacing",
)


def _edit_part(edit, part):
    if edit is None:
        return None
    keep = None if edit.keep is None else edit.keep[part]
    return Edit(data=edit.data[part], keep=keep)
