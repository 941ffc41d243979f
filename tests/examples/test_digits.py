import json
import os

import numpy as np
import pytest
from PIL import Image

import keras_rin
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("sklearn")


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_digits_trains_saves_a_preset_and_a_grid(tmp_path, mixed_precision):
    digits = load_example("digits")
    output = os.path.join(tmp_path, "my_digits")
    model, samples = digits.main(
        output=output, mixed_precision=mixed_precision, smoke=True
    )
    assert samples.shape == (100, 8, 8, 1)
    assert np.all((samples >= 0) & (samples <= 1))
    assert len(model.history.history["loss"]) == 1
    with Image.open(output + "_samples.png") as grid:
        assert grid.size == (10 * 33 + 1, 10 * 33 + 1)
    loaded = keras_rin.RINImageGenerator.from_preset(output)
    assert loaded.count_params() == model.count_params()
    with open(os.path.join(output, "metadata.json")) as file:
        assert "digits" in json.load(file)["description"]


def test_evaluate_digits_reports_every_number(tmp_path):
    # An untrained rin_digits model (training is tested above), and a
    # smaller classifier than the example's, which takes far longer to fit.
    preset = os.path.join(tmp_path, "untrained_digits")
    load_example("digits").build_model().save_to_preset(preset)
    evaluate = load_example("evaluate_digits")
    evaluate.CLASSIFIER_HIDDEN_UNITS = (64,)
    results = evaluate.evaluate(
        preset,
        per_class=2,
        num_steps=2,
        samples_path=os.path.join(tmp_path, "samples.png"),
    )
    assert results["num_samples"] == 20
    assert results["classifier_test_accuracy"] > 0.9
    assert 0 <= results["sample_accuracy"] <= 1
    assert len(results["sample_accuracy_per_class"]) == 10
    assert results["frechet_distance_train_vs_test"] >= 0
    # An untrained model is far from the real digits.
    assert (
        results["frechet_distance_samples_vs_test"]
        > results["frechet_distance_train_vs_test"]
    )
    evaluate.print_table(results)
