import math
import numbers

import keras
from keras import ops

from keras_rin.utils import validation

DECAYS = ("cosine", "linear", "none")


@keras.saving.register_keras_serializable(package="keras_rin")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up followed by (part of) a cosine decay.

    This is the learning rate schedule of the official RIN code
    (`WarmUpAndDecay` in google-research/pix2seq). With
    `base = learning_rate`, `alpha = end_learning_rate_factor` and
    `s = step - warmup_steps`:

    - `step < warmup_steps`: `base * step / warmup_steps`, a linear ramp
      from 0.
    - `decay="cosine"`: with `D = (total_steps - warmup_steps) /
      decay_fraction`,
      `base * ((1 - alpha) * 0.5 * (1 + cos(pi * s / D)) + alpha)`.
      `decay_fraction=1` runs the full cosine down to `alpha * base` at
      `total_steps`; a smaller fraction stops part way (the official
      `"cosine@0.8"` of the CIFAR-10 run ends at about 9.5% of `base`).
    - `decay="linear"`: linear from `base` to `alpha * base` at
      `total_steps`.
    - `decay="none"`: constant `base` after the warm-up (Table C.2 of the
      paper, 1024x1024).

    From `total_steps` on, the learning rate stays at its value at
    `total_steps` (the official schedule would carry a partial cosine on
    down to its end; its runs stop at `total_steps`).

    Args:
        learning_rate: float > 0, the learning rate reached at the end of
            the warm-up.
        total_steps: int > 0, the number of training steps, warm-up
            included.
        warmup_steps: int in `[0, total_steps]`, the number of linear
            warm-up steps. Defaults to `0`.
        decay: string, one of `"cosine"`, `"linear"` and `"none"`. Defaults
            to `"cosine"`.
        decay_fraction: float in `(0, 1]`, the fraction of the cosine curve
            travelled by `total_steps` (the `rate` of the official
            `"cosine@rate"`). Only used when `decay="cosine"`. Defaults to
            `1.0`.
        end_learning_rate_factor: float in `[0, 1]`, the floor of the decay
            as a fraction of `learning_rate` (`end_lr_factor` of the
            official code). Defaults to `0.0`.
        name: string, the name of the schedule. Defaults to
            `"warmup_cosine_decay"`.

    Example:
    >>> schedule = WarmupCosineDecay(
    ...     1e-3, total_steps=100, warmup_steps=10, decay_fraction=0.8
    ... )
    >>> round(float(schedule(5)), 6)
    0.0005
    >>> round(float(schedule(10)), 6)
    0.001

    Reference:
        - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972), Scalable
          Adaptive Computation for Iterative Generation.
    """

    def __init__(
        self,
        learning_rate,
        total_steps,
        warmup_steps=0,
        decay="cosine",
        decay_fraction=1.0,
        end_learning_rate_factor=0.0,
        name="warmup_cosine_decay",
    ):
        super().__init__()
        validation.check_positive_number("learning_rate", learning_rate)
        total_steps = validation.check_positive_int("total_steps", total_steps)
        warmup_steps = validation.check_int(
            "warmup_steps", warmup_steps, minimum=0, maximum=total_steps
        )
        if decay not in DECAYS:
            raise ValueError(
                f"`decay` must be one of {DECAYS}. Received: decay={decay!r}"
            )
        _check_decay_fraction(decay_fraction)
        validation.check_rate(
            "end_learning_rate_factor", end_learning_rate_factor, allow_one=True
        )
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.decay = decay
        self.decay_fraction = decay_fraction
        self.end_learning_rate_factor = end_learning_rate_factor
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decayed = self._decayed(step - self.warmup_steps)
        if not self.warmup_steps:
            return decayed
        warmup = self.learning_rate * step / self.warmup_steps
        return ops.where(ops.less(step, self.warmup_steps), warmup, decayed)

    def _decayed(self, decay_step):
        base = self.learning_rate
        if self.decay == "none":
            return ops.zeros_like(decay_step) + base
        progress = self._progress(decay_step)
        alpha = self.end_learning_rate_factor
        if self.decay == "linear":
            return base * (1.0 - (1.0 - alpha) * progress)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        return base * ((1.0 - alpha) * cosine + alpha)

    def _progress(self, decay_step):
        """The position along the decay curve, held from `total_steps` on."""
        decay_steps = self.total_steps - self.warmup_steps
        fraction = self.decay_fraction if self.decay == "cosine" else 1.0
        if decay_steps == 0:
            # No decay phase: the final value right after the warm-up.
            return ops.ones_like(decay_step) * fraction
        decay_step = ops.clip(decay_step, 0.0, decay_steps)
        return decay_step / decay_steps * fraction

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "decay_fraction": self.decay_fraction,
            "end_learning_rate_factor": self.end_learning_rate_factor,
            "name": self.name,
        }


def _check_decay_fraction(decay_fraction):
    if (
        isinstance(decay_fraction, bool)
        or not isinstance(decay_fraction, numbers.Real)
        or not 0 < decay_fraction <= 1
    ):
        raise ValueError(
            "`decay_fraction` must be a number in (0, 1]. "
            f"Received: decay_fraction={decay_fraction!r}"
        )
