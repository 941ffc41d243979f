"""The EMA of the weights kept by a Keras optimizer (`use_ema=True`).

Keras keeps the moving averages inside the optimizer and, when `fit` ends,
overwrites the model's weights with them. keras-rin models build on that,
as the official RIN does: the model holds the EMA weights when `fit`
returns (for sampling, evaluation and saving), and the next `fit` continues
from the raw weights. `RawWeights` keeps the raw weights aside in between;
`ema_weights` swaps the averages in for a `with` block in the middle of
`fit`. The helpers below find the averages and swap them in and out.
"""

import contextlib

import keras
from keras import ops


class RawWeights:
    """The raw weights of a model kept aside while the model holds the EMA
    weights after `fit` (a plain object, so Keras tracks no tensor here).

    A model owns one and calls `stash_when_fit_ends` around Keras' `fit`
    and `restore` before the next one; `forget` drops them when the
    weights are replaced (`load_weights`, `set_weights`).
    """

    def __init__(self):
        self._raw = None
        self._averages = None

    @property
    def holds_ema(self):
        """Whether the model holds the EMA and the raw weights are here."""
        return self._raw is not None

    @contextlib.contextmanager
    def stash_when_fit_ends(self, model):
        """Keras overwrites the weights with the EMA when `fit` ends (even
        when it ends with an error): copy the raw weights first, so that
        the next `fit` can continue from them."""
        optimizer = model.optimizer
        if not uses_ema(optimizer):
            yield
            return
        finalize = optimizer.finalize_variable_values

        def stash_then_finalize(variables):
            averages = ema_variables(optimizer)
            # Without an update (a `fit` that failed in its first step)
            # the averages hold no weights: keep the weights as they are.
            if averages is not None:
                self._raw, self._averages = snapshot(variables), averages
                finalize(variables)

        optimizer.finalize_variable_values = stash_then_finalize
        try:
            yield
        finally:
            del optimizer.finalize_variable_values

    def restore(self, model):
        """Puts the raw weights of the last `fit` back, unless the weights
        were changed since (e.g. loaded from a file)."""
        raw, averages = self._raw, self._averages
        self.forget()
        variables = model.trainable_variables
        if raw is not None and holds_values(variables, averages):
            assign_all(variables, raw)

    def forget(self):
        self._raw = self._averages = None


@contextlib.contextmanager
def ema_weights(model, raw_weights):
    """Puts the EMA of the weights into `model` for a `with` block (see
    `RINDiffusionModel.ema_weights`); `raw_weights` is the model's
    `RawWeights`. Without a usable EMA, or when the model already holds
    it, the block sees the weights as they are."""
    if hasattr(model, "jax_state_sync"):
        # Under JAX, `fit` keeps the newest values outside the variables
        # until something asks for them.
        model.jax_state_sync()
    averages = ema_variables(model.optimizer)
    if averages is None or raw_weights.holds_ema:
        yield model
        return
    raw = snapshot(model.trainable_variables)
    assign_all(model.trainable_variables, averages)
    try:
        yield model
    finally:
        assign_all(model.trainable_variables, raw)


def uses_ema(optimizer):
    """Whether the optimizer keeps an EMA of the weights."""
    # A LossScaleOptimizer (mixed_float16) keeps the EMA in its inner one.
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return bool(getattr(optimizer, "use_ema", False))


def ema_variables(optimizer):
    """The optimizer's moving averages, one per trainable variable of the
    model it was built for, or None when it keeps no usable EMA (no EMA,
    not built yet, or no update taken: the averages would be zeros)."""
    if not uses_ema(optimizer):
        return None
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not averages or int(ops.convert_to_numpy(optimizer.iterations)) == 0:
        return None
    return averages


def snapshot(variables):
    """Copies of the variables' current values (a plain list of tensors)."""
    return [ops.copy(ops.stop_gradient(v.value)) for v in variables]


def assign_all(variables, values):
    """Assigns each value (a tensor or a variable) to its variable."""
    for variable, value in zip(variables, values, strict=True):
        if isinstance(value, keras.Variable):
            value = value.value
        if value is not None:
            variable.assign(value)


def holds_values(variables, others):
    """Whether every variable holds exactly the value of the other one."""
    return all(
        other is None or bool(ops.all(ops.equal(variable.value, other.value)))
        for variable, other in zip(variables, others, strict=True)
    )
