"""Continuous-time noise schedules gamma(t) (Algorithm 4 of the RIN paper).

A schedule maps diffusion time `t` in [0, 1] to the noise level
`gamma(t)`, the fraction of signal variance kept in
`x_t = sqrt(gamma) * x + sqrt(1 - gamma) * eps`. It falls from 1 at `t = 0`
to 0 at `t = 1`. All arithmetic runs in float32 whatever the dtype policy.
"""

import inspect
import math

import keras
from keras import ops

from keras_rin.utils import validation

_PACKAGE = "keras_rin"


def _as_float32(t):
    return ops.cast(ops.convert_to_tensor(t), "float32")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NoiseSchedule:
    """Base class: a callable `gamma(t)` with a serialisable config."""

    name = None

    def __call__(self, t):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosineSchedule(NoiseSchedule):
    """`gamma(t) = cos(((t + ns) / (1 + ds)) * pi / 2) ** 2`.

    Args:
        ns: float, small time shift that keeps `gamma(0)` just below 1.
        ds: float, the matching denominator shift so `gamma(1)` is ~0.

    Example:
    >>> schedule = CosineSchedule()
    >>> [round(float(schedule(t)), 4) for t in (0.0, 0.5, 1.0)]
    [1.0, 0.4999, 0.0]
    """

    name = "cosine"

    def __init__(self, ns=2e-4, ds=2.5e-4):
        self.ns = validation.check_number("ns", ns)
        self.ds = validation.check_number("ds", ds)

    def __call__(self, t):
        t = _as_float32(t)
        angle = ((t + self.ns) / (1.0 + self.ds)) * (math.pi / 2.0)
        return ops.square(ops.cos(angle))

    def get_config(self):
        return {"ns": self.ns, "ds": self.ds}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SigmoidSchedule(NoiseSchedule):
    """Sigmoid schedule of the RIN paper, clipped to `[clip_min, 1]`.

    `gamma(t) = (sigmoid(end / tau) - sigmoid((t * (end - start) + start)
    / tau)) / (sigmoid(end / tau) - sigmoid(start / tau))`.

    Args:
        start: float, left end of the sigmoid's input range.
        end: float, right end; must be larger than `start`.
        tau: float > 0, temperature; smaller values put less weight on the
            tails of the noise range.
        clip_min: float in (0, 1), lower clip of gamma.

    Example:
    >>> schedule = SigmoidSchedule(start=-3, end=3, tau=0.9)
    >>> [round(float(schedule(t)), 4) for t in (0.0, 0.5, 1.0)]
    [1.0, 0.5, 0.0]
    """

    name = "sigmoid"

    def __init__(self, start=-3.0, end=3.0, tau=0.9, clip_min=1e-9):
        start, end, tau, clip_min = (
            validation.check_number(name, value)
            for name, value in [
                ("start", start),
                ("end", end),
                ("tau", tau),
                ("clip_min", clip_min),
            ]
        )
        if not end > start:
            raise ValueError(
                "`end` must be larger than `start` in SigmoidSchedule. "
                f"Received: start={start}, end={end}"
            )
        if tau <= 0:
            raise ValueError(f"`tau` must be > 0. Received: tau={tau}")
        if not 0 < clip_min < 1:
            raise ValueError(
                f"`clip_min` must be in (0, 1). Received: clip_min={clip_min}"
            )
        self.start = start
        self.end = end
        self.tau = tau
        self.clip_min = clip_min

    def __call__(self, t):
        t = _as_float32(t)
        v_start = 1.0 / (1.0 + math.exp(-self.start / self.tau))
        v_end = 1.0 / (1.0 + math.exp(-self.end / self.tau))
        inner = ops.sigmoid(
            (t * (self.end - self.start) + self.start) / self.tau
        )
        gamma = (v_end - inner) / (v_end - v_start)
        return ops.clip(gamma, self.clip_min, 1.0)

    def get_config(self):
        return {
            "start": self.start,
            "end": self.end,
            "tau": self.tau,
            "clip_min": self.clip_min,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LinearSchedule(NoiseSchedule):
    """`gamma(t) = 1 - t`, clipped to `[clip_min, 1]`.

    Args:
        clip_min: float in (0, 1), lower clip of gamma.
    """

    name = "linear"

    def __init__(self, clip_min=1e-9):
        clip_min = validation.check_number("clip_min", clip_min)
        if not 0 < clip_min < 1:
            raise ValueError(
                f"`clip_min` must be in (0, 1). Received: clip_min={clip_min}"
            )
        self.clip_min = clip_min

    def __call__(self, t):
        return ops.clip(1.0 - _as_float32(t), self.clip_min, 1.0)

    def get_config(self):
        return {"clip_min": self.clip_min}


SCHEDULES = {
    cls.name: cls for cls in (CosineSchedule, SigmoidSchedule, LinearSchedule)
}


def get(identifier, name="schedule"):
    """Returns a schedule from a name, a config dict or an instance.

    Args:
        identifier: `"cosine"`, `"sigmoid"`, `"linear"`, a dict
            `{"name": ..., **kwargs}` or a `NoiseSchedule` instance.
        name: the argument that `identifier` was given as, for errors
            (e.g. `"sampling_schedule"`).

    Raises:
        ValueError: for an unknown schedule, a dict with arguments that
            its schedule does not take, or a bad argument value.
    """
    if isinstance(identifier, NoiseSchedule):
        return identifier
    if isinstance(identifier, str) and identifier in SCHEDULES:
        return SCHEDULES[identifier]()
    schedule_name = None
    if isinstance(identifier, dict):
        schedule_name = identifier.get("name")
    if isinstance(schedule_name, str) and schedule_name in SCHEDULES:
        config = dict(identifier)
        cls = SCHEDULES[config.pop("name")]
        _check_schedule_arguments(name, cls, config, identifier)
        return cls(**config)
    raise ValueError(
        f"Unknown noise schedule for `{name}`. Expected one of "
        f"{sorted(SCHEDULES)}, a dict with a `name` key, or a NoiseSchedule "
        f"instance. Received: {name}={identifier!r}"
    )


def _check_schedule_arguments(name, cls, config, identifier):
    accepted = [
        parameter
        for parameter in inspect.signature(cls.__init__).parameters
        if parameter != "self"
    ]
    unknown = sorted(str(key) for key in config if key not in accepted)
    if unknown:
        raise ValueError(
            f"`{name}`: the {cls.name!r} schedule takes the arguments "
            f"{accepted}, not {unknown}. Received: {name}={identifier!r}"
        )


def serialize(schedule):
    """Returns a JSON-friendly dict that `get()` turns back into `schedule`."""
    return {"name": schedule.name, **schedule.get_config()}
