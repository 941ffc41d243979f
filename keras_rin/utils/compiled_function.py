"""Compiles an inference-only function of a model for the current backend.

This is the one place in keras-rin that knows the backends apart, as
Keras' own trainers do: JAX gets `jax.jit` over the model's variables
(stateless), TensorFlow a `tf.function`, PyTorch eager execution without
autograd. Model code stays in `keras.ops`.
"""

import keras


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
