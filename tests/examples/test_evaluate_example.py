import json
import os

import numpy as np
import pytest
from PIL import Image

import keras_rin
from tests.examples import load_example
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large


def _evaluate(tmp_path, preset, dataset, *extra):
    example = load_example("evaluate")
    output = os.path.join(tmp_path, "report.json")
    argv = ["--preset", preset, "--dataset", dataset, "--output", output]
    args = example.parse_args(argv + list(extra))
    report = example.evaluate(args)
    with open(output) as file:
        assert json.load(file) == report
    return report, output


def test_image_preset_gets_a_report_with_every_metric(tmp_path):
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    preset = os.path.join(tmp_path, "preset")
    model.save_to_preset(preset)
    report, output = _evaluate(
        tmp_path, preset, "digits",
        "--num-samples", "30", "--batch-size", "12", "--num-steps", "2",
        "--sampler", "ddim", "--seed", "3", "--smoke",
    )  # fmt: skip
    assert set(report["metrics"]) == {
        "fid",
        "inception_score",
        "inception_score_std",
        "kid",
        "kid_std",
    }
    assert all(np.isfinite(v) for v in report["metrics"].values())
    # An untrained model's samples are far from the digits.
    assert report["metrics"]["fid"] > 0
    expected = dict(
        num_samples=30, num_steps=2, sampler="ddim", seed=3, split="test"
    )
    assert {k: report[k] for k in expected} == expected
    assert report["guidance_scale"] == model.guidance_scale
    assert "smoke" in report["feature_extractor"]
    with Image.open(output.replace(".json", "_samples.png")) as grid:
        assert grid.size[0] > 8 * 8


def test_video_preset_gets_an_fvd_report(tmp_path):
    model = keras_rin.RINVideoPredictor(
        tiny_video_backbone(), num_context_frames=2, seed=0
    )
    preset = os.path.join(tmp_path, "preset")
    model.save_to_preset(preset)
    report, output = _evaluate(
        tmp_path, preset, "bouncing_shapes",
        "--num-samples", "6", "--batch-size", "3", "--num-steps", "2",
        "--smoke",
    )  # fmt: skip
    assert set(report["metrics"]) == {"fvd"}
    assert report["metrics"]["fvd"] > 0
    assert report["num_samples"] == 6
    with Image.open(output.replace(".json", "_samples.gif")) as gif:
        assert gif.n_frames == 4
    # Without an I3D network there is no FVD, and the error says what to
    # provide.
    with pytest.raises(ValueError, match="--i3d.*I3D"):
        _evaluate(tmp_path, preset, "bouncing_shapes", "--num-samples", "6")
