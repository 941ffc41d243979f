import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.examples import EXAMPLES
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large


@pytest.fixture
def ablation(monkeypatch):
    # The script imports its siblings (digits, evaluate_digits), as it does
    # when run from examples/.
    monkeypatch.syspath_prepend(EXAMPLES)
    return load_example("self_conditioning_ablation")


def _run(rate, seed, distances):
    evaluations = [
        {"step": 10 * (i + 1), "epoch": i + 1, "loss": 0.5 - 0.1 * i,
         "accuracy": 0.5 + 0.1 * i, "frechet_distance": d}
        for i, d in enumerate(distances)
    ]  # fmt: skip
    sweep = [
        {"sampler": "ddim", "sampling_steps": 10, "accuracy": 0.9,
         "frechet_distance": distances[-1] + 1}
    ]  # fmt: skip
    return {
        "self_conditioning_rate": rate,
        "seed": seed,
        "evaluations": evaluations,
        "sampling_sweep": sweep,
    }


def test_report_summarises_the_last_evaluation_over_seeds(
    ablation, tmp_path, monkeypatch
):
    pytest.importorskip("matplotlib")
    # The example's classifier takes most of a minute to train; a small one
    # shows the same floor logic.
    monkeypatch.setattr(ablation, "train_classifier", _small_classifier)
    runs = [
        _run(0.0, 0, [5.0, 2.0]),
        _run(0.0, 1, [5.0, 4.0]),
        _run(0.9, 0, [5.0, 1.0]),
    ]
    for run in runs:
        name = f"run_rate{run['self_conditioning_rate']:g}_seed{run['seed']}"
        with open(os.path.join(tmp_path, name + ".json"), "w") as file:
            json.dump(run, file)
    summary = ablation.report(str(tmp_path))
    assert summary["0"]["seeds"] == 2
    assert summary["0"]["frechet_distance_mean"] == pytest.approx(3.0)
    assert summary["0"]["frechet_distance_std"] == pytest.approx(1.0)
    assert summary["0.9"]["frechet_distance_mean"] == pytest.approx(1.0)
    assert summary["0.9"]["steps"] == 20
    with open(os.path.join(tmp_path, "results.json")) as file:
        results = json.load(file)
    assert [r["sampling_steps"] for r in results["sampling_sweep"]] == [10, 10]
    assert results["sampling_sweep"][0]["frechet_distance_mean"] == 4.0
    # Real digits score well: the floor drawn in the plot.
    assert 0 < results["real_data"]["frechet_distance"] < 3
    assert results["real_data"]["accuracy"] > 0.9
    path = os.path.join(tmp_path, "self_conditioning_ablation.png")
    with Image.open(path) as image:
        assert image.size[0] > 600


def _small_classifier(images, labels):
    from sklearn.neural_network import MLPClassifier

    classifier = MLPClassifier((32,), max_iter=200, random_state=0)
    return classifier.fit(images.reshape(len(images), -1), labels)


def test_report_without_runs_raises(ablation, tmp_path):
    with pytest.raises(ValueError, match="No run files"):
        ablation.report(str(tmp_path))


class _StubModel:
    def __init__(self):
        self.holds_ema = False

    def ema_weights(self):
        model = self

        class Swap:
            def __enter__(self):
                model.holds_ema = True

            def __exit__(self, *args):
                model.holds_ema = False

        return Swap()


def test_sample_quality_scores_the_ema_weights_on_schedule(ablation):
    model = _StubModel()
    seen = []

    def score(scored_model):
        seen.append(scored_model.holds_ema)
        return {"accuracy": 1.0, "frechet_distance": 0.5}

    callback = ablation.SampleQuality(
        score, every=2, epochs=5, steps_per_epoch=3
    )
    callback.set_model(model)
    for epoch in range(5):
        callback.on_epoch_end(epoch, {"loss": np.float32(0.25)})
    # Every 2 epochs, and after the last one.
    assert [r["epoch"] for r in callback.records] == [2, 4, 5]
    assert [r["step"] for r in callback.records] == [6, 12, 15]
    assert seen == [True, True, True]
    assert not model.holds_ema
