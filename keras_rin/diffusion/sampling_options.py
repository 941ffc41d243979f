"""How to sample: the options of `generate`, checked when created, and the
model's recommended defaults for the ones left out."""

import dataclasses
import numbers

import numpy as np

from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import samplers
from keras_rin.utils import validation

# What a model samples with when neither the caller nor its preset says
# otherwise: the best solver of the sampler study (docs/sampling/).
DEFAULT_SAMPLER = "dpmpp_3m"
DEFAULT_SPACING = "time"
DEFAULT_NUM_STEPS = 25

# Which latents a Heun corrector evaluation receives: the predictor's
# output latents ("predictor") or the ones the predictor received
# ("previous"); measured in docs/sampling/.
CORRECTOR_LATENTS = ("predictor", "previous")
# What the unconditional stream's latents are when guidance starts within
# a run (`guidance_interval`): zeros, as at a first step, or a copy of the
# conditional stream's; measured in docs/sampling/.
UNCONDITIONAL_START = ("zeros", "conditional")


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How to sample: the options of `generate`, checked when created.

    Args:
        num_steps: int in `[1, 2**31 - 1]` (the compiled loop counts in
            int32), or None for the model's `num_sampling_steps`.
        sampler: one of `keras_rin.diffusion.samplers.SAMPLERS`, or None
            for the model's.
        spacing: one of `keras_rin.diffusion.noise_grids.SPACINGS`, or None
            for the model's `sampling_spacing`.
        eta: float in [0, 1], the noise of `"ddim"` (0: deterministic).
        seed: int >= 0 or None (a seed drawn from NumPy's global generator).
        batch_size: int in `[1, 2**31 - 1]` or None, examples per compiled
            call (all at once).
        guidance_scale: float >= 0, or None for the model's own.
        guidance_interval: `(t_low, t_high)` with `0 <= t_low <= t_high <=
            1`, or None for the model's: guidance only at the steps whose
            time `t` satisfies `t_low < t <= t_high`.
        clip_x0: bool (a real one: `"False"` is refused), clip the clean
            estimate to `[-b, b]` at each step.
        verbose: `"auto"`, 0, 1 or 2: show a progress bar (`"auto"`, 1).
        compute_schedule: None or `(fraction, num_active_latents)` pairs
            (see `keras_rin.diffusion.compute_schedules`).
        read_attention: bool, record the read attention
            (`generate_with_read_attention`).
        read_attention_steps: the steps at which to record it (see
            `read_attention_steps`; None: 4 spread evenly), checked in
            `resolve` once the number of steps is known.
        strength: float in (0, 1], the time at which sampling starts from
            the noised initial data (image editing); 1 starts from pure
            noise.
        resample_jumps: int >= 0, inpainting's extra denoising passes per
            step (RePaint's resampling), each one more network evaluation.
        corrector_latents: one of `CORRECTOR_LATENTS`, for `"heun"`.
        unconditional_start: one of `UNCONDITIONAL_START`.
    """

    num_steps: int | None = None
    sampler: str | None = None
    spacing: str | None = None
    eta: float = 0.0
    seed: int | None = None
    batch_size: int | None = None
    guidance_scale: float | None = None
    guidance_interval: tuple | None = None
    clip_x0: bool = True
    verbose: object = "auto"
    compute_schedule: object = None
    read_attention: bool = False
    read_attention_steps: object = None
    strength: float = 1.0
    resample_jumps: int = 0
    corrector_latents: str = "predictor"
    unconditional_start: str = "zeros"

    def __post_init__(self):
        if self.sampler is not None:
            samplers.check_sampler(self.sampler)
        if self.spacing is not None:
            noise_grids.check_spacing(self.spacing)
        for name in ("num_steps", "batch_size"):
            if getattr(self, name) is not None:
                self._normalise(name, validation.check_count)
        self._normalise("seed", lambda _, seed: validation.check_seed(seed))
        self._normalise("eta", check_eta)
        if self.guidance_scale is not None:
            scale = check_guidance_scale(self.guidance_scale)
            object.__setattr__(self, "guidance_scale", scale)
        if self.guidance_interval is not None:
            self._normalise("guidance_interval", check_guidance_interval)
        self._normalise("clip_x0", validation.check_bool)
        check_verbose(self.verbose)
        self._normalise("strength", check_strength)
        self._normalise("resample_jumps", check_resample_jumps)
        _check_choice("corrector_latents", self.corrector_latents)
        _check_choice("unconditional_start", self.unconditional_start)
        if self.eta and self.sampler not in (None, "ddim"):
            raise ValueError(
                '`eta` is the noise of the "ddim" sampler; the '
                f"{self.sampler!r} sampler is deterministic or fixes its "
                f"own. Received: eta={self.eta}, sampler={self.sampler!r}"
            )

    def _normalise(self, name, check):
        object.__setattr__(self, name, check(name, getattr(self, name)))

    @classmethod
    def from_arguments(cls, arguments):
        """The options among a `generate` method's arguments (its
        `locals()`). The `steps` of `generate_with_read_attention` become
        `read_attention_steps`, checked once the number of steps is known
        (`resolve`)."""
        names = [f.name for f in dataclasses.fields(cls)]
        values = {name: arguments[name] for name in names if name in arguments}
        if "steps" in arguments:
            values["read_attention"] = True
            values["read_attention_steps"] = arguments["steps"]
        return cls(**values)

    def resolve(self, model):
        """The options with the model's defaults in place of the ones left
        out (None): sampler, spacing, step count, guidance scale and
        interval."""
        values = {
            "sampler": self.sampler or model.sampler,
            "spacing": self.spacing or model.sampling_spacing,
            "num_steps": self.num_steps or model.num_sampling_steps,
        }
        if self.guidance_scale is None:
            values["guidance_scale"] = model.guidance_scale
        if self.guidance_interval is None:
            values["guidance_interval"] = model.guidance_interval or (0, 1)
        if self.read_attention:
            values["read_attention_steps"] = read_attention_steps(
                self.read_attention_steps, values["num_steps"]
            )
        resolved = dataclasses.replace(self, **values)
        check_guidance_scale(resolved.guidance_scale, bool(model.num_classes))
        return resolved

    @property
    def guided(self):
        """Whether guidance runs at all (a scale other than 1)."""
        return self.guidance_scale is not None and self.guidance_scale != 1.0

    @property
    def show_progress(self):
        return self.verbose == 1 or self.verbose == "auto"

    @property
    def network_evaluations(self):
        """Evaluations per sample (guidance's doubled batch not counted)."""
        evaluations = samplers.network_evaluations(self.sampler, self.num_steps)
        return evaluations * (1 + self.resample_jumps)


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


def check_guidance_interval(name, interval):
    """`(t_low, t_high)` as a tuple of floats, `0 <= t_low <= t_high <=
    1`."""
    ok = (
        isinstance(interval, (tuple, list, np.ndarray))
        and len(interval) == 2
        and all(validation.is_finite_number(t) for t in interval)
    )
    if not ok or not 0 <= interval[0] <= interval[1] <= 1:
        raise ValueError(
            f"`{name}` must be a pair (t_low, t_high) of times with "
            "0 <= t_low <= t_high <= 1, e.g. (0.1, 1.0): guidance then "
            "runs at the steps with t_low < t <= t_high. Received: "
            f"{name}={validation.preview(interval)}"
        )
    return (float(interval[0]), float(interval[1]))


def check_eta(name, eta):
    if not validation.is_finite_number(eta) or not 0 <= eta <= 1:
        raise ValueError(
            f"`{name}` must be a number in [0, 1] (0: deterministic DDIM, "
            f"1: ancestral). Received: {name}={eta!r}"
        )
    return float(eta)


def check_strength(name, strength):
    if not validation.is_finite_number(strength) or not 0 < strength <= 1:
        raise ValueError(
            f"`{name}` must be a number in (0, 1]: the time from which the "
            "noised initial images are denoised (1: from pure noise). "
            f"Received: {name}={strength!r}"
        )
    return float(strength)


def check_resample_jumps(name, jumps):
    if not validation.is_int(jumps) or not 0 <= jumps <= 100:
        raise ValueError(
            f"`{name}` must be an int in [0, 100], extra denoising passes "
            f"per step when inpainting. Received: {name}={jumps!r}"
        )
    return int(jumps)


def _check_choice(name, value):
    choices = {
        "corrector_latents": CORRECTOR_LATENTS,
        "unconditional_start": UNCONDITIONAL_START,
    }[name]
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r}"
        )


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
