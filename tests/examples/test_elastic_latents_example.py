import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

import keras_rin
from tests.examples import load_digit_study
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("sklearn")


@pytest.fixture
def example(monkeypatch):
    return load_digit_study("elastic_latents", monkeypatch)


def test_baselines_are_matched_to_the_flops_of_each_schedule(example):
    model = load_example("digits").build_model(
        elastic_latent_counts=[4, 8, 16],
        elastic_latent_probabilities=[0.25, 0.25, 0.5],
    )
    schedules = {"small first": [(0.5, 4), (0.5, 16)]}
    jobs = example.sampling_jobs(model, 16, schedules, (40,), (10,))
    flops = keras_rin.utils.count_sampling_flops(
        model, 40, [(0.5, 4), (0.5, 16)]
    )
    by_method = {}
    for method, name, steps, schedule in jobs:
        by_method.setdefault(method, []).append((name, steps, schedule))
    assert by_method["small first"] == [("elastic", 40, [(0.5, 4), (0.5, 16)])]
    full = keras_rin.utils.count_flops(model.backbone, 16)
    small = keras_rin.utils.count_flops(model.backbone, 4)
    assert by_method["plain, all latents, fewer steps"] == [
        ("plain", 10, None),
        ("plain", round(flops / full), None),
    ]
    assert ("elastic", round(flops / small), [(1.0, 4)]) in by_method[
        "elastic, 4 latents at every step"
    ]
    # The schedule spends less than 40 full steps and more than 40 small.
    assert 10 < round(flops / full) < 40 < round(flops / small)


# Elastic latents are tested on every backend in
# tests/models/test_elastic_latents.py; the study's logic, once.
@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="backend-independent study logic: run once, on PyTorch "
    "(the fastest here)",
)
def test_smoke_run_trains_measures_and_plots(example, tmp_path):
    pytest.importorskip("matplotlib")
    digits = load_example("digits")
    elastic = os.path.join(tmp_path, "elastic")
    digits.main(
        output=elastic,
        smoke=True,
        elastic_latent_counts=[4, 8, 16],
        elastic_latent_probabilities=[0.25, 0.25, 0.5],
    )
    plain = os.path.join(tmp_path, "plain")
    digits.build_model().save_to_preset(plain)
    output = os.path.join(tmp_path, "report")
    losses, sampling, table = example.main(
        elastic, plain, output, ("ddim",), per_class=1, seeds=(0,), smoke=True
    )
    for name in ("elastic", "plain"):
        assert sorted(losses[name], key=int) == ["4", "8", "16"]
        assert all(np.isfinite(v).all() for v in losses[name].values())
    assert len(table) == 1  # the smoke run's single schedule
    for row in table:
        point = row["schedule"]
        assert len(row["baselines"]) == 3
        for baseline in row["baselines"].values():
            ratio = baseline["flops_per_sample"] / point["flops_per_sample"]
            assert 0.6 < ratio < 1.5
    with open(os.path.join(output, "results.json")) as file:
        results = json.load(file)
    assert results["elastic_latent_counts"] == [4, 8, 16]
    assert len(results["sampling"]) == len(sampling)
    assert (
        "beats fewer steps" in open(os.path.join(output, "results.md")).read()
    )
    with Image.open(os.path.join(output, "elastic_latents.png")) as image:
        assert image.size[0] > image.size[1] > 100


def test_a_preset_without_elastic_latents_is_refused(example, tmp_path):
    plain = os.path.join(tmp_path, "plain")
    load_example("digits").build_model().save_to_preset(plain)
    with pytest.raises(ValueError, match="elastic_latent_counts"):
        example.main(plain, plain, os.path.join(tmp_path, "out"), smoke=True)


def test_a_schedule_wins_only_when_it_beats_every_seed(example):
    def run(*distances):
        return {"frechet_distance_per_seed": list(distances)}

    fewer_steps = [run(1.5, 1.4), run(1.45, 1.35)]
    assert example.verdict(run(1.2, 1.3), fewer_steps) == "yes"
    assert example.verdict(run(1.2, 1.38), fewer_steps) == "within noise"
    assert example.verdict(run(1.6, 1.55), fewer_steps) == "no"
