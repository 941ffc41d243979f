"""The backend-specific helpers: dropout masks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rin.utils import compiled_function


@pytest.mark.parametrize("rate", [0.1, 0.37, 0.5])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dropout_draws_keras_masks(rate, dtype):
    """The same masks as `keras.random.dropout` for the same seed state
    (on JAX they are drawn faster), so seeds reproduce as before."""
    inputs = ops.cast(
        np.linspace(0.5, 1.5, 4 * 64 * 33).reshape(4, 64, 33), dtype
    )
    ours, theirs = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    for _ in range(2):  # the generators advance alike
        got = compiled_function.dropout(inputs, rate, ours)
        expected = keras.random.dropout(inputs, rate, seed=theirs)
        np.testing.assert_array_equal(
            ops.convert_to_numpy(ops.cast(got, "float32")),
            ops.convert_to_numpy(ops.cast(expected, "float32")),
        )
    dropped = np.mean(ops.convert_to_numpy(ops.cast(got, "float32")) == 0)
    assert abs(dropped - rate) < 0.03
