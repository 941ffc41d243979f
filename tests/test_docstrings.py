"""The `>>>` examples of every docstring in keras_rin run as doctests.

They run on JAX only: an example that prints a tensor or its shape prints
it in the backend's own form (`torch.Size([2, 8])` on PyTorch), and the
code itself is the same on every backend.
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest
from keras import ops

import keras_rin


def _modules():
    names = [
        info.name
        for info in pkgutil.walk_packages(keras_rin.__path__, "keras_rin.")
        if not info.name.endswith("__main__")  # runs the command line
    ]
    return sorted(names)


def _doctests(name):
    module = importlib.import_module(name)
    globs = {"keras": keras, "keras_rin": keras_rin, "np": np, "ops": ops}
    tests = doctest.DocTestFinder().find(
        module, globs={**vars(module), **globs}
    )
    return [test for test in tests if test.examples]


MODULES = [name for name in _modules() if _doctests(name)]


def test_docstring_examples_are_found():
    assert "keras_rin.models.rin_backbone" in MODULES
    assert len(MODULES) >= 15


@pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="printed tensors differ per backend; the doctests run on JAX",
)
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    for test in _doctests(name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
