import dataclasses
import json
import os

import keras

from keras_rin.optimizers import LAMB
from keras_rin.optimizers import WarmupCosineDecay
from keras_rin.presets import preset_loading
from keras_rin.utils import validation

RECIPE_FILE = "recipe.json"
OPTIMIZERS = ("lamb", "adamw")
DECAYS = ("cosine", "linear", "none")
# The official RIN excludes these from weight decay and from LAMB's trust
# ratio (regexes searched in the variable path): biases and LayerNorm
# parameters.
OFFICIAL_EXCLUDED_VARIABLES = ("bias", "beta", "gamma")


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """The hyper-parameters that train a RIN model, in one object.

    A recipe builds the optimizer (LAMB or AdamW with linear warm-up, cosine
    decay, weight decay, optional global gradient clipping and the EMA of
    the weights) so that examples and users do not repeat it. The presets
    carry their recipe: Table C.2 of the paper for ImageNet and
    Kinetics-600, the official code's CIFAR-10 run, and the recipes of the
    models trained for this project. The model-side settings of a recipe
    (self-conditioning rate, dropout, drop-path) live in the preset's model
    config.

    Args:
        optimizer: `"lamb"` (the paper's, with the official semantics:
            `keras_rin.optimizers.LAMB`) or `"adamw"`.
        learning_rate: float, the peak learning rate.
        total_steps: int, the number of updates of the full run.
        warmup_steps: int, linear warm-up steps from 0 to the peak.
        decay: `"cosine"`, `"linear"` or `"none"` after the warm-up.
        decay_fraction: float in (0, 1], the part of the cosine curve
            used: the official CIFAR-10 run stops at 0.8 of the way down.
        end_learning_rate_factor: float, the learning rate at the end of
            the full curve, as a fraction of the peak.
        batch_size: int, the global batch size.
        beta_1: float, first-moment decay.
        beta_2: float, second-moment decay.
        epsilon: float, the optimizer's epsilon.
        weight_decay: float, the weight-decay rate.
        exclude_from_weight_decay: tuple of regexes of variable paths
            excluded from weight decay (and, for LAMB, from the trust
            ratio).
        global_clipnorm: float or None, clip the global gradient norm.
            The official LAMB runs do not clip.
        ema_momentum: float in [0, 1), the EMA decay of the weights. The
            EMA starts as a copy of the weights; sampling and checkpoints
            use it.
        description: str, where the recipe comes from.

    Example:
    ```python
    recipe = keras_rin.training.TrainingRecipe.from_preset("rin_cifar10")
    model = keras_rin.RINImageGenerator.from_preset("rin_cifar10")
    model.compile(optimizer=recipe.build_optimizer())
    model.fit(dataset.repeat(), steps_per_epoch=1000,
              epochs=recipe.total_steps // 1000)
    ```

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972), Table C.2.
    """

    optimizer: str = "lamb"
    learning_rate: float = 1e-3
    total_steps: int = 300_000
    warmup_steps: int = 10_000
    decay: str = "cosine"
    decay_fraction: float = 1.0
    end_learning_rate_factor: float = 0.0
    batch_size: int = 1024
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 0.01
    exclude_from_weight_decay: tuple = OFFICIAL_EXCLUDED_VARIABLES
    global_clipnorm: float = None
    ema_momentum: float = 0.9999
    description: str = ""

    def __post_init__(self):
        object.__setattr__(
            self,
            "exclude_from_weight_decay",
            tuple(self.exclude_from_weight_decay),
        )
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("decay", self.decay, DECAYS)
        validation.check_positive_int("total_steps", self.total_steps)
        validation.check_positive_int("batch_size", self.batch_size)
        validation.check_non_negative_int("warmup_steps", self.warmup_steps)
        if self.warmup_steps > self.total_steps:
            raise ValueError(
                "`warmup_steps` must not exceed `total_steps`. Received: "
                f"warmup_steps={self.warmup_steps}, "
                f"total_steps={self.total_steps}"
            )
        validation.check_positive_number("learning_rate", self.learning_rate)
        validation.check_rate("ema_momentum", self.ema_momentum)
        if self.global_clipnorm is not None:
            validation.check_positive_number(
                "global_clipnorm", self.global_clipnorm
            )

    @classmethod
    def from_preset(cls, preset):
        """The recipe stored with a preset (its `recipe.json`).

        Args:
            preset: a built-in preset name, a local preset directory,
                `hf://...` or `kaggle://...` (see `from_preset` of the
                models).
        """
        directory = preset_loading.resolve_handle(preset)
        path = os.path.join(directory, RECIPE_FILE)
        if not os.path.isfile(path):
            raise preset_loading.preset_error(
                preset, f"it has no training recipe ({path} is missing)"
            )
        try:
            with open(path) as file:
                config = json.load(file)
            return cls.from_config(config)
        except (OSError, TypeError, ValueError) as error:
            raise preset_loading.preset_error(
                preset, f"{path} is not a valid recipe ({error})"
            ) from error

    def save(self, preset_dir):
        """Writes the recipe into a preset directory (`recipe.json`)."""
        os.makedirs(preset_dir, exist_ok=True)
        path = os.path.join(preset_dir, RECIPE_FILE)
        with open(path + ".partial", "w") as file:
            json.dump(self.get_config(), file, indent=2)
            file.write("\n")
        os.replace(path + ".partial", path)

    def replace(self, **changes):
        """A copy of the recipe with some fields changed."""
        return dataclasses.replace(self, **changes)

    def get_config(self):
        config = dataclasses.asdict(self)
        config["exclude_from_weight_decay"] = list(
            self.exclude_from_weight_decay
        )
        return config

    @classmethod
    def from_config(cls, config):
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(
                f"Unknown training recipe fields {unknown}. Expected some "
                f"of {sorted(fields)}"
            )
        return cls(**config)

    def warmup_steps_for(self, total_steps):
        """The warm-up for a run of `total_steps` updates: the recipe's
        warm-up, shortened in proportion when the run is shorter than the
        recipe's (a few-step test run keeps the shape of the schedule)."""
        if total_steps >= self.total_steps:
            return self.warmup_steps
        scaled = self.warmup_steps * total_steps / self.total_steps
        return min(total_steps, max(int(self.warmup_steps > 0), round(scaled)))

    def learning_rate_schedule(self, total_steps=None):
        """The `WarmupCosineDecay` learning-rate schedule of the recipe.

        Args:
            total_steps: int or None, the updates of this run (defaults to
                the recipe's `total_steps`).
        """
        total_steps = total_steps or self.total_steps
        validation.check_positive_int("total_steps", total_steps)
        return WarmupCosineDecay(
            self.learning_rate,
            total_steps=total_steps,
            warmup_steps=self.warmup_steps_for(total_steps),
            decay=self.decay,
            decay_fraction=self.decay_fraction,
            end_learning_rate_factor=self.end_learning_rate_factor,
        )

    def build_optimizer(self, total_steps=None):
        """The recipe's optimizer, with its learning-rate schedule, EMA of
        the weights and gradient clipping, ready for `model.compile`.

        Args:
            total_steps: int or None, the updates of this run (defaults to
                the recipe's `total_steps`).
        """
        common = dict(
            learning_rate=self.learning_rate_schedule(total_steps),
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay=self.weight_decay,
            global_clipnorm=self.global_clipnorm,
            use_ema=True,
            ema_momentum=self.ema_momentum,
        )
        if self.optimizer == "lamb":
            return LAMB(
                exclude_from_weight_decay=self.exclude_from_weight_decay,
                **common,
            )
        optimizer = keras.optimizers.AdamW(**common)
        if self.exclude_from_weight_decay:
            optimizer.exclude_from_weight_decay(
                var_names=list(self.exclude_from_weight_decay)
            )
        return optimizer


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}"
        )
