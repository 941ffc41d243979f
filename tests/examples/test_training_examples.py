"""The training examples run end to end at toy size (`--smoke`: a tiny
model on `tfds.testing.mock_data` for two one-step epochs)."""

import os

import keras
import pytest
from PIL import Image

import keras_rin
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("tensorflow_datasets")


def _check_run_dir(run_dir, model):
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


def test_cifar10_smoke_run(tmp_path):
    cifar10 = load_example("cifar10")
    run_dir = str(tmp_path / "run")
    model = cifar10.main(["--smoke", "--run-dir", run_dir])
    _check_run_dir(run_dir, model)
    assert isinstance(
        model.optimizer.inner_optimizer
        if hasattr(model.optimizer, "inner_optimizer")
        else model.optimizer,
        keras_rin.optimizers.LAMB,
    )


def test_imagenet_smoke_run_with_distribution(tmp_path):
    imagenet = load_example("imagenet")
    run_dir = str(tmp_path / "run")
    argv = ["--smoke", "--run-dir", run_dir, "--distribution", "data"]
    if keras.config.backend() != "jax":
        with pytest.raises(ValueError, match="JAX"):
            imagenet.main(argv)
        # The same training code as cifar10.py, which runs on this backend
        # above; the suite's time goes to JAX's distributed path instead.
        return
    try:
        model = imagenet.main(argv)
    finally:
        if keras.config.backend() == "jax":
            keras.distribution.set_distribution(None)
    _check_run_dir(run_dir, model)
    assert model.backbone.num_classes == 1000
