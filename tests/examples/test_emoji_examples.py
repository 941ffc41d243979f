import json
import os
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import keras_rin
from tests.data.emoji_files import write_emoji_files
from tests.examples import EXAMPLES
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large"). Their
# logic is backend-independent (NumPy data, public model calls tested on
# every backend in tests/models and tests/presets/test_rin_emoji32.py):
# they run once, on PyTorch, the fastest here.
pytestmark = [
    pytest.mark.large,
    pytest.mark.skipif(
        keras.config.backend() != "torch",
        reason="backend-independent example logic: run once, on PyTorch",
    ),
]

pytest.importorskip("sklearn")
pytest.importorskip("fontTools")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tests' stand-in font and emoji-test.txt, and a cache folder."""
    folder = tmp_path_factory.mktemp("emoji")
    return {**write_emoji_files(folder), "cache_dir": str(folder / "cache")}


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
    """examples/emoji.py's smoke run: two epochs of a tiny backbone."""
    output = str(tmp_path_factory.mktemp("run") / "rin_emoji")
    load_example("emoji").main(output=output, smoke=True, data_options=files)
    return output


def _arguments(files):
    return [
        "--font-path", files["font_path"],
        "--emoji-test-path", files["emoji_test_path"],
    ]  # fmt: skip


@pytest.fixture
def evaluate_emoji(monkeypatch, files):
    """examples/evaluate_emoji.py, importable by its sibling study as
    when run from examples/; the loader's cache goes to a temporary
    home."""
    monkeypatch.syspath_prepend(EXAMPLES)
    monkeypatch.setenv("HOME", os.path.dirname(files["cache_dir"]))
    # A smaller group classifier than the example's, which fits longer.
    module = load_example("evaluate_emoji")
    monkeypatch.setattr(module, "CLASSIFIER_HIDDEN_UNITS", (16,))
    monkeypatch.setitem(sys.modules, "evaluate_emoji", module)
    return module


def test_an_ablation_stops_part_of_the_way_through_the_schedule(
    files, tmp_path
):
    output = str(tmp_path / "stopped")
    model, _ = load_example("emoji").main(
        epochs=2,
        output=output,
        smoke=True,
        data_options=files,
        stop_after_epoch=1,
        self_conditioning_rate=0.0,
    )
    assert len(model.history.history["loss"]) == 1
    assert model.self_conditioning_rate == 0.0
    # The schedule is the full run's: 2 epochs of one update.
    recipe = keras_rin.training.TrainingRecipe.from_preset(output)
    assert recipe.total_steps == 2


def test_the_training_example_writes_a_preset_recipe_and_snapshots(trained):
    model = keras_rin.RINImageGenerator.from_preset(trained)
    assert model.backbone.image_shape == (32, 32, 3)
    assert model.backbone.num_classes == len(keras_rin.data.EMOJI_GROUPS)
    assert model.sampler == "dpmpp_3m" and model.num_sampling_steps == 20
    recipe = keras_rin.training.TrainingRecipe.from_preset(trained)
    assert recipe.total_steps == 2 and recipe.ema_momentum == 0.998
    run_dir = trained + "_run"
    assert os.path.isdir(os.path.join(run_dir, "epoch_0002"))
    with Image.open(trained + "_samples.png") as grid:
        # One row of ten samples per group, 32 pixels and a border each.
        assert grid.width > 10 * 32 and grid.height > 9 * 32


def test_the_evaluation_scores_samples_against_held_out_emoji(
    trained, files, evaluate_emoji, tmp_path
):
    example = evaluate_emoji
    output = str(tmp_path / "evaluation")
    args = example.parse_args(
        ["--preset", trained, "--output", output, "--steps", "2"]
        + _arguments(files)
    )
    results = example.main(args)
    with open(os.path.join(output, "results.json")) as file:
        assert json.load(file) == results
    assert results["num_samples"] == 16  # The stand-in's training emoji.
    assert results["frechet_distance"] >= 0
    assert 0 <= results["group_accuracy"] <= 1
    # Distinct shapes: no held-out stand-in emoji is a near copy.
    assert results["near_copies_held_out_real"] == {"0.03": 0.0, "0.05": 0.0}
    assert results["nearest_shown"] == sorted(results["nearest_shown"])
    for name in ("samples.png", "nearest.png"):
        with Image.open(os.path.join(output, name)) as image:
            assert image.width > 0


def test_the_scorer_counts_training_emoji_as_copies(files, evaluate_emoji):
    example = evaluate_emoji
    scorer = example.EmojiScorer(files)
    score = scorer.score(scorer.train_images, scorer.train_labels)
    assert score["near_copies"] == {"0.03": 1.0, "0.05": 1.0}
    assert score["median_nearest_distance"] < 1e-3
    noise = np.random.default_rng(0).uniform(size=scorer.train_images.shape)
    score = scorer.score(noise, scorer.train_labels)
    assert score["near_copies"] == {"0.03": 0.0, "0.05": 0.0}


def test_the_runs_are_compared_over_their_snapshots(
    trained, files, evaluate_emoji, tmp_path
):
    example = evaluate_emoji
    output = str(tmp_path / "curves")
    args = example.parse_args(
        ["--runs", trained + "_run", "--output", output, "--steps", "2"]
        + _arguments(files)
    )
    curves = example.main(args)
    (curve,) = curves.values()
    assert curve["self_conditioning_rate"] == 0.9
    assert [p["epoch"] for p in curve["points"]] == [2]
    with Image.open(os.path.join(output, "curves.png")) as image:
        assert image.width > 0


def test_the_sampler_study_scores_every_solver(
    trained, files, evaluate_emoji, tmp_path
):
    example = load_example("emoji_sampler_study")
    output = str(tmp_path / "study")
    args = example.parse_args(
        ["--preset", trained, "--output", output, "--per-group", "1"]
        + ["--evaluations", "2", "--reference-steps", "3"]
        + _arguments(files)
    )
    rows = example.main(args)
    assert [r["sampler"] for r in rows] == ["ddpm", *example.SOLVERS]
    assert rows[0]["reference"] and rows[0]["nfe"] == 3
    # Heun's one step at this budget skips its corrector: 1 evaluation.
    assert [r["nfe"] for r in rows[1:]] == [2, 2, 2, 2, 1]
    assert "(reference)" in open(os.path.join(output, "results.md")).read()
    with Image.open(os.path.join(output, "quality_vs_nfe.png")) as image:
        assert image.width > 0
