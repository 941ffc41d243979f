import math
import numbers
import re

import keras
from keras import ops

# Dense biases and LayerNormalization offsets/scales, as in the official RIN
# configuration. Positional embeddings and learned latents are not listed.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("bias", "beta", "gamma")


@keras.saving.register_keras_serializable(package="keras_rin")
class LAMB(keras.optimizers.Optimizer):
    """Layer-wise adaptive moments optimizer with the official RIN semantics.

    LAMB (You et al., 2019) scales an Adam-style update of each variable by
    a per-variable trust ratio `||w|| / ||update||`. This implementation
    follows `tfa.optimizers.LAMB`, which the official RIN code
    (google-research/pix2seq) trains with. For each variable `w` with
    gradient `g` at step `t` (starting at 1):

    ```
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g^2
    update = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
    if w uses weight decay:
        update += weight_decay * w
    ratio = ||w|| / ||update|| if w uses layer adaptation else 1
    w -= learning_rate * ratio * update
    ```

    (`ratio` is 1 too when either norm is 0.) A variable uses weight decay
    unless one of the `exclude_from_weight_decay` regular expressions is
    found (`re.search`) in its `path`, e.g.
    `block_0/read_attention/query/bias`, so a pattern can name a whole
    layer too. The same holds for layer adaptation and
    `exclude_from_layer_adaptation`, which defaults to the weight decay
    list. Variables excluded with the base class method
    `exclude_from_weight_decay()` are excluded from weight decay too.

    It differs from `keras.optimizers.Lamb` in two ways:

    - `keras.optimizers.Lamb` applies the trust ratio to every variable;
      here biases and LayerNormalization variables are updated with the
      plain Adam step `learning_rate * update` by default.
    - The weight decay term is added to `update` before the trust ratio,
      whereas the base class weight decay of `keras.optimizers.Lamb` is
      decoupled (`w -= learning_rate * weight_decay * w`, outside the trust
      ratio). The base class weight decay is never applied here.

    With `weight_decay=0` and a variable that no pattern excludes, both
    give the same update.

    Args:
        learning_rate: float, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable
            returning the learning rate. Defaults to `0.001`.
        beta_1: float, decay rate of the first moment estimates. Defaults
            to `0.9`.
        beta_2: float, decay rate of the second moment estimates. Defaults
            to `0.999`.
        epsilon: float, added to the denominator for numerical stability.
            Defaults to `1e-8`.
        weight_decay: float >= 0, the weight decay rate folded into the
            update. `None` means `0`. Defaults to `0.0`.
        exclude_from_weight_decay: list of regular expressions; variables
            whose path matches one get no weight decay. Defaults to
            `("bias", "beta", "gamma")`.
        exclude_from_layer_adaptation: list of regular expressions;
            variables whose path matches one get no trust ratio. `None`
            uses the same exclusions as weight decay. Defaults to `None`.
        name: string, the name of the optimizer. Defaults to `"lamb"`.
        **kwargs: base optimizer arguments (`clipnorm`, `global_clipnorm`,
            `use_ema`, `ema_momentum`, `loss_scale_factor`,
            `gradient_accumulation_steps`, ...).

    Example:
    >>> schedule = keras_rin.optimizers.WarmupCosineDecay(
    ...     1e-3, total_steps=150_000, warmup_steps=10_000, decay_fraction=0.8
    ... )
    >>> optimizer = keras_rin.optimizers.LAMB(
    ...     schedule, beta_2=0.999, weight_decay=0.01, global_clipnorm=1.0
    ... )

    References:
        - [You et al., 2019](https://arxiv.org/abs/1904.00962), Large Batch
          Optimization for Deep Learning: Training BERT in 76 minutes.
        - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972), Scalable
          Adaptive Computation for Iterative Generation.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        exclude_from_layer_adaptation=None,
        name="lamb",
        **kwargs,
    ):
        # `weight_decay` is not passed on: it is part of `update_step`, and
        # the base class must not also apply its decoupled weight decay.
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        _check_weight_decay(weight_decay)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        # `exclude_from_weight_decay` is a base class method, so the
        # argument is stored under another name.
        self.exclude_from_weight_decay_patterns = _check_patterns(
            "exclude_from_weight_decay", exclude_from_weight_decay
        )
        self.exclude_from_layer_adaptation = (
            None
            if exclude_from_layer_adaptation is None
            else _check_patterns(
                "exclude_from_layer_adaptation", exclude_from_layer_adaptation
            )
        )
        self._weight_decay_cache = {}
        self._layer_adaptation_cache = {}

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        # Decide now, on the Keras variables: the TensorFlow backend hands
        # `update_step` the backing `tf.Variable`, which has no `path`.
        for variable in var_list:
            self._use_weight_decay(variable)
            self._use_layer_adaptation(variable)

    def _apply_weight_decay(self, variables):
        # The weight decay is applied inside `update_step`.
        return

    def _use_weight_decay(self, variable):
        if not super()._use_weight_decay(variable):
            return False
        return not self._matches(
            variable,
            self.exclude_from_weight_decay_patterns,
            self._weight_decay_cache,
        )

    def _use_layer_adaptation(self, variable):
        if self.exclude_from_layer_adaptation is None:
            return self._use_weight_decay(variable)
        return not self._matches(
            variable,
            self.exclude_from_layer_adaptation,
            self._layer_adaptation_cache,
        )

    def _matches(self, variable, patterns, cache):
        key = self._var_key(variable)
        if key not in cache:
            path = getattr(variable, "path", None) or variable.name
            cache[key] = any(re.search(p, path) for p in patterns)
        return cache[key]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(
            m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1)
        )
        self.assign_add(
            v,
            ops.multiply(
                ops.subtract(ops.square(gradient), v), 1 - self.beta_2
            ),
        )
        m_hat = ops.divide(m, 1.0 - beta_1_power)
        v_hat = ops.divide(v, 1.0 - beta_2_power)
        update = ops.divide(m_hat, ops.add(ops.sqrt(v_hat), self.epsilon))

        if self.weight_decay and self._use_weight_decay(variable):
            wd = ops.cast(self.weight_decay, dtype)
            update = ops.add(update, ops.multiply(wd, variable))
        if self._use_layer_adaptation(variable):
            update = ops.multiply(_trust_ratio(variable, update), update)
        self.assign_sub(variable, ops.multiply(lr, update))

    def get_config(self):
        config = super().get_config()
        exclude_from_layer_adaptation = self.exclude_from_layer_adaptation
        if exclude_from_layer_adaptation is not None:
            exclude_from_layer_adaptation = list(exclude_from_layer_adaptation)
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "weight_decay": self.weight_decay,
                "exclude_from_weight_decay": list(
                    self.exclude_from_weight_decay_patterns
                ),
                "exclude_from_layer_adaptation": exclude_from_layer_adaptation,
            }
        )
        return config


def _trust_ratio(variable, update):
    w_norm = ops.sqrt(ops.sum(ops.square(variable)))
    u_norm = ops.sqrt(ops.sum(ops.square(update)))
    # The denominator is kept away from 0 so that the branch `ops.where`
    # does not select cannot produce inf or NaN.
    safe_u_norm = ops.where(ops.greater(u_norm, 0), u_norm, 1.0)
    use_ratio = ops.logical_and(ops.greater(w_norm, 0), ops.greater(u_norm, 0))
    return ops.where(use_ratio, w_norm / safe_u_norm, 1.0)


def _check_weight_decay(value):
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            "`weight_decay` must be a finite number >= 0 or None. "
            f"Received: weight_decay={value!r}"
        )


def _check_patterns(name, patterns):
    if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)):
        raise ValueError(
            f"`{name}` must be a list of regular expression strings. "
            f"Received: {name}={patterns!r}"
        )
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(
                f"`{name}` must be a list of regular expression strings. "
                f"Received: {name}={patterns!r}"
            )
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(
                f"`{name}` holds an invalid regular expression {pattern!r} "
                f"({e}). Received: {name}={patterns!r}"
            ) from e
    return tuple(patterns)
