"""The EMA of the weights kept by a Keras optimizer (`use_ema=True`).

Keras keeps the moving averages inside the optimizer and, when `fit` ends,
overwrites the model's weights with them. keras-rin models build on that:
these helpers find the averages and swap them in and out of a model.
"""

import keras
from keras import ops


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
