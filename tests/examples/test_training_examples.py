"""The training examples run end to end at toy size (`--smoke`: a tiny
model on `tfds.testing.mock_data` for two one-step epochs)."""

import keras
import pytest

import keras_rin
from tests.examples import check_run_dir
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("tensorflow_datasets")


def test_cifar10_smoke_run(tmp_path):
    cifar10 = load_example("cifar10")
    run_dir = str(tmp_path / "run")
    model = cifar10.main(["--smoke", "--run-dir", run_dir])
    check_run_dir(run_dir, model)
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
    check_run_dir(run_dir, model)
    assert model.backbone.num_classes == 1000
