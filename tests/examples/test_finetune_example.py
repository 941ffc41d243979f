import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from tests.examples import load_digit_study

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("sklearn")


@pytest.fixture
def example(monkeypatch):
    return load_digit_study("finetune", monkeypatch)


def _study(example, output, methods):
    # Two updates. TensorFlow spends longer tracing each method's train
    # step than running it eagerly (JAX's compiles, at the tests' XLA
    # optimisation level, cost less than its eager operations).
    eager = keras.config.backend() == "tensorflow"
    args = example.parse_args(
        ["--steps", "2", "--batch-size", "8", "--ranks", "2"]
        + ["--per-class", "2", "--output-dir", output]
        + ["--methods", *methods]
        + (["--run-eagerly"] if eager else [])
    )
    example.main(args)
    with open(os.path.join(output, "results.json")) as file:
        results = json.load(file)
    return {r["method"]: r for r in results["methods"]}, results


def test_lora_trains_its_own_weights(example, tmp_path):
    output = str(tmp_path / "finetune")
    runs, results = _study(example, output, ["lora"])
    assert list(runs) == ["LoRA r=2"]
    tuned = runs["LoRA r=2"]
    assert 0 < tuned["trainable_params"] < tuned["total_params"]
    # LoRA leaves every weight of the base as it was.
    assert tuned["frozen_weights_max_change"] == 0.0
    assert tuned["preset_bytes_lora_only"] < tuned["preset_bytes_merged"]
    for run in runs.values():
        assert run["updates"] == 2
        assert 0 <= run["accuracy"] <= 1
        assert np.isfinite(run["frechet_distance"])
        assert np.isfinite(run["loss_last_tenth"])
        assert 0 <= run["seconds_training"] <= run["seconds_total"]
    assert 0 < results["classifier_test_accuracy"] <= 1
    assert results["real_floor_frechet_distance"] > 0
    table = open(os.path.join(output, "results.md")).read()
    assert "| LoRA r=2 | " in table and "(floor)" in table
    with Image.open(os.path.join(output, "samples.png")) as image:
        # Real digits, then one row per method: 20 digits per row.
        width, height = image.size
        assert width > 4 * height > 0


# Which methods run and how they are recorded does not depend on the
# backend: checked once, on the one that compiles nothing.
@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="backend-independent study logic: run once, on torch",
)
def test_the_base_every_target_full_and_scratch_are_recorded(example, tmp_path):
    runs, _ = _study(
        example,
        str(tmp_path / "study"),
        ["base", "lora_all", "full", "scratch"],
    )
    assert list(runs) == [
        "base",
        "LoRA r=4, all targets",
        "full",
        "scratch",
    ]
    full = runs["full"]
    assert full["trainable_params"] == full["total_params"]
    assert "preset_bytes_lora_only" not in full
    assert "updates" not in runs["base"]
    assert runs["base"]["trainable_params"] == runs["base"]["total_params"]
    every = runs["LoRA r=4, all targets"]
    assert every["targets"] == ["attention", "mlp", "embeddings", "readout"]
    assert every["frozen_weights_max_change"] == 0.0
    assert 0 < every["trainable_params"] < every["total_params"]
    assert runs["scratch"]["learning_rate"] == 2e-3


def test_batches_make_exactly_the_updates_asked_for(example):
    class Domain:
        images = np.arange(10)[:, None]
        labels = np.arange(10)

    images, labels = example.batches(Domain, steps=7, batch_size=4)
    assert images.shape == (28, 1)
    np.testing.assert_array_equal(images[:, 0], labels)
    # Each epoch is a permutation of the data.
    assert sorted(labels[:10]) == list(range(10))
    assert sorted(labels[10:20]) == list(range(10))


def test_rotation_turns_the_digits_a_quarter_turn(example):
    image = np.zeros((1, 8, 8, 1), "float32")
    image[0, 0, 7] = 1.0  # top right
    rotated = example.rotate(image)
    assert rotated.shape == image.shape
    assert rotated[0, 0, 0, 0] == 1.0  # top left: counter-clockwise
