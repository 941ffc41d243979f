import importlib.util
import os
import sys

from PIL import Image

import keras_rin

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def load_example(name):
    """Imports `examples/<name>.py` as a module."""
    path = os.path.join(EXAMPLES, f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_digit_study(name, monkeypatch):
    """Imports an example that scores digits with examples/evaluate_digits
    (its sibling, importable as when run from examples/), with a smaller
    digit classifier than the example's, which takes far longer to fit."""
    monkeypatch.syspath_prepend(EXAMPLES)
    module = load_example(name)
    monkeypatch.setattr(
        sys.modules["evaluate_digits"], "CLASSIFIER_HIDDEN_UNITS", (64,)
    )
    return module


def check_run_dir(run_dir, model):
    """What a training example's two one-step epochs leave in `run_dir`."""
    for epoch in (1, 2):
        path = os.path.join(run_dir, "samples", f"epoch_{epoch:04d}.png")
        with Image.open(path) as grid:
            assert grid.size[0] > 0
    # The backup is gone once the run has finished; the presets stay.
    assert not os.path.exists(os.path.join(run_dir, "backup"))
    for name in ("checkpoint", "final"):
        loaded = keras_rin.RINImageGenerator.from_preset(
            os.path.join(run_dir, name)
        )
        assert loaded.count_params() == model.count_params()
    assert int(model.optimizer.iterations) == 2
