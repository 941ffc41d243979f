"""What in keras-rin knows the backends apart: the compiled inference
function of a model, what a failed compiled step leaves behind,
dropout's masks on JAX, and the form of the exact GELU that each backend's
ONNX exporter reads.

As Keras' own trainers do, JAX gets `jax.jit` over the model's variables
(stateless), TensorFlow a `tf.function`, PyTorch eager execution without
autograd. `FailedStepRecoveryMixin` gives a model back its state when a
train, test or predict step raises. Model code stays in `keras.ops`.
"""

import math

import keras
import numpy as np
from keras import ops


def compile_inference_function(fn, variables, jit_compile=True):
    """Returns `fn` compiled for repeated inference calls.

    Args:
        fn: function of tensors (or tuples of tensors and None) that reads
            `variables` and returns tensors. It must not assign to
            variables (carry state through its arguments instead).
        variables: list of `keras.Variable` that `fn` reads.
        jit_compile: bool, compile with XLA on JAX and TensorFlow. On
            TensorFlow, False gives a plain graph function.
    """
    backend = keras.config.backend()
    if backend == "jax":
        return _jax_function(fn, variables, jit_compile)
    if backend == "tensorflow":
        return _tensorflow_function(fn, jit_compile)
    if backend == "torch":
        return _torch_function(fn)
    return fn


def _jax_function(fn, variables, jit_compile):
    import jax

    def stateless_fn(values, *args):
        mapping = list(zip(variables, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return fn(*args)

    compiled = jax.jit(stateless_fn) if jit_compile else stateless_fn

    def call(*args):
        return compiled([v.value for v in variables], *args)

    return call


def _tensorflow_function(fn, jit_compile):
    import tensorflow as tf

    compiled = tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)

    def to_tensor(value):
        # None stays None (an absent optional input, traced as a constant).
        return value if value is None else tf.convert_to_tensor(value)

    def call(*args):
        return compiled(*tf.nest.map_structure(to_tensor, args))

    return call


def _torch_function(fn):
    import torch

    def call(*args):
        with torch.no_grad():
            return fn(*args)

    return call


class FailedStepRecoveryMixin:
    """Mixin for a `keras.Model`: a train, test or predict step that raises
    (bad data, an interrupt) leaves the model as usable as before.

    Without it, JAX's `fit`, `evaluate` and `predict` take the variables'
    values out of the variables (into the state they hand the compiled
    step) and put them back only from a step's result, so an error in the
    first step leaves every variable empty. On TensorFlow, a `tf.function`
    whose first trace failed may not create variables when traced again.
    The step functions that Keras makes are wrapped so that an error gives
    the JAX state back, and drops a TensorFlow function that never ran
    (see `_guard`).
    """

    def make_train_function(self, force=False):
        super().make_train_function(force)
        return _guard(self, "train_function", _TRAIN_STATE)

    def make_test_function(self, force=False):
        super().make_test_function(force)
        return _guard(self, "test_function", _TEST_STATE)

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        return _guard(self, "predict_function", _PREDICT_STATE)


# The groups of variables in the state that Keras' JAX trainer hands each
# step function, in order (see `JAXTrainer._get_jax_state`).
_TRAIN_STATE = ("trainable", "non_trainable", "optimizer", "metrics")
_TEST_STATE = ("trainable", "non_trainable", "metrics")
_PREDICT_STATE = ("trainable", "non_trainable")


def _guard(model, attribute, state_groups):
    """Wraps `model.<attribute>` (once) so that when it raises, the JAX
    state it was given goes back into the variables and, on TensorFlow,
    a function that never ran is dropped for a fresh one (it may not
    create its variables on a later call)."""
    function = getattr(model, attribute, None)
    if function is None or getattr(function, "_recovers", False):
        return function
    backend = keras.config.backend()
    ran = False

    def guarded(*args):
        nonlocal ran
        try:
            outputs = function(*args)
        except BaseException:
            if backend == "jax":
                _give_back_jax_state(model, state_groups, args[0])
            elif backend == "tensorflow" and not ran:
                setattr(model, attribute, None)
            raise
        ran = True
        return outputs

    guarded._recovers = True
    setattr(model, attribute, guarded)
    return guarded


def _give_back_jax_state(model, state_groups, state):
    variables = {
        "trainable": model.trainable_variables,
        "non_trainable": model.non_trainable_variables,
        "optimizer": getattr(model.optimizer, "variables", []),
        "metrics": model.metrics_variables,
    }
    for group, values in zip(state_groups, state, strict=False):
        if len(values) != len(variables[group]):
            continue  # not the state this module knows: leave it to Keras
        for variable, value in zip(variables[group], values, strict=True):
            # A buffer donated to a step that ran is gone: Keras itself
            # puts back the newest state of the steps that ran.
            if not getattr(value, "is_deleted", lambda: False)():
                variable.assign(value)


def dropout(inputs, rate, seed_generator):
    """`keras.random.dropout(inputs, rate, seed=seed_generator)`, with the
    same masks, drawn faster on JAX.

    Keras' JAX dropout compares `jax.random.uniform` draws with the keep
    probability, and XLA fuses the Threefry hash that makes them into the
    fusions that read the mask: on a 2-core CPU a CIFAR-10 training step
    took 13.2 s with it, 9.1 s with this function and 8.4 s without any
    dropout (`benchmarks/README.md`). Here the same random words
    (`jax.random.bits` of the same key) are made once, behind an
    optimisation barrier, and compared with the integer threshold that
    gives exactly the float comparison's mask: `uniform < keep` is
    `(bits >> 9) * 2**-23 < keep`, that is `bits < ceil(keep * 2**23) *
    2**9`. Other backends call Keras.

    Args:
        inputs: float tensor.
        rate: float in [0, 1), the fraction of values zeroed.
        seed_generator: `keras.random.SeedGenerator`, advanced by one draw.

    Returns:
        The inputs with dropped values zeroed and the others scaled by
        `1 / (1 - rate)`.
    """
    if keras.config.backend() != "jax" or rate == 0:
        return keras.random.dropout(inputs, rate, seed=seed_generator)
    import jax
    import jax.numpy as jnp

    keep = 1.0 - rate
    key = seed_generator.next()
    bits = jax.random.bits(key, inputs.shape, dtype=jnp.uint32)
    bits = jax.lax.optimization_barrier(bits)
    threshold = min(math.ceil(np.float32(keep) * 2.0**23) * 2**9, 2**32 - 1)
    mask = bits < jnp.uint32(threshold)
    return jax.lax.select(mask, inputs / keep, jnp.zeros_like(inputs))


def exact_gelu(x):
    """The exact (erf) GELU, `x * Phi(x)`.

    On TensorFlow it is written with `erf` (within 1e-6 of
    `tf.nn.gelu`): TensorFlow's own GELU uses `erfc`, which `tf2onnx`
    cannot export to ONNX (`export_backbone`). Elsewhere it is the
    backend's GELU (one fused kernel on PyTorch, 3.7x faster there than
    the erf form).
    """
    if keras.config.backend() == "tensorflow":
        return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))
    return ops.gelu(x, approximate=False)
