import os
import re
import subprocess
import sys

import pytest
from PIL import Image

import keras_rin
from keras_rin import cli
from tests.helpers import tiny_backbone


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("presets") / "tiny")
    model = keras_rin.RINImageGenerator(tiny_backbone())
    model.save_to_preset(directory, description="tiny")
    return directory


@pytest.fixture(scope="module")
def tiny_elastic_preset(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("presets") / "tiny_elastic")
    model = keras_rin.RINImageGenerator(
        tiny_backbone(), elastic_latent_counts=[4, 12]
    )
    model.save_to_preset(directory, description="tiny elastic")
    return directory


def test_presets_lists_every_built_in_preset(capsys):
    assert cli.main(["presets"]) == 0
    output = capsys.readouterr().out
    for name, info in keras_rin.presets.list_presets().items():
        assert name in output
        assert info["description"] in output


def test_info_reports_params_and_gflops(capsys):
    assert cli.main(["info", "rin_cifar10"]) == 0
    output = capsys.readouterr().out
    assert "30,951,180" in output
    assert "8.59" in output
    assert "32x32x3" in output


def test_info_describes_a_video_preset(capsys):
    assert cli.main(["info", "rin_kinetics600"]) == 0
    output = capsys.readouterr().out
    assert "RINVideoPredictor" in output
    assert "16x64x64x3" in output
    assert "5 context, 11 predicted" in output
    assert "2048 tokens (2x4x4 patches)" in output


def test_generate_explains_that_video_presets_need_context(capsys):
    assert cli.main(["generate", "rin_kinetics600"]) == 1
    error = capsys.readouterr().err
    assert "video prediction preset" in error
    assert len(error.strip().splitlines()) == 1


def test_generate_writes_a_grid(tiny_preset, tmp_path, capsys):
    output = os.path.join(tmp_path, "grid.png")
    argv = ["generate", tiny_preset, "--labels", "0,1,2,1", "--steps", "2"]
    assert cli.main(argv + ["--output", output, "--seed", "3"]) == 0
    assert "Saved 4 images" in capsys.readouterr().out
    with Image.open(output) as grid:
        # One row of four 8x8 images magnified 6x, with 1-pixel padding.
        assert grid.size == (4 * 49 + 1, 49 + 1)


def test_generate_follows_a_compute_schedule(
    tiny_elastic_preset, tmp_path, capsys
):
    output = os.path.join(tmp_path, "grid.png")
    argv = ["generate", tiny_elastic_preset, "--labels", "0,1", "--steps", "2"]
    schedule = ["--compute-schedule", "0.5:4,0.5:12", "--output", output]
    assert cli.main(argv + schedule) == 0
    printed = capsys.readouterr().out
    assert "Saved 2 images" in printed
    backbone = keras_rin.RINImageGenerator.from_preset(
        tiny_elastic_preset
    ).backbone
    ratio = (
        keras_rin.utils.count_flops(backbone, 4)
        + keras_rin.utils.count_flops(backbone, 12)
    ) / (2 * keras_rin.utils.count_flops(backbone, 12))
    assert f"{ratio:.2f}x full compute" in printed
    assert cli.main(["info", tiny_elastic_preset]) == 0
    assert re.search(r"elastic latents +4, 12\n", capsys.readouterr().out)


def test_generate_defaults_to_every_class(tiny_preset, tmp_path):
    output = os.path.join(tmp_path, "grid.png")
    argv = ["generate", tiny_preset, "--steps", "1", "--sampler", "ddim"]
    assert cli.main(argv + ["--output", output]) == 0
    with Image.open(output) as grid:
        # Three classes, 8 samples each: 3 columns, 8 rows.
        assert grid.size == (3 * 49 + 1, 8 * 49 + 1)


@pytest.mark.parametrize(
    "argv, status, expected",
    [
        (["generate", "rin_nope"], 1, "Cannot load preset 'rin_nope'"),
        (["generate", "TINY", "--labels", "7"], 1, "labels"),
        (["generate", "TINY", "--steps", "0"], 2, "positive integer"),
        (["generate", "TINY", "--labels", "a,b"], 2, "comma-separated"),
        (["generate", "TINY", "--sampler", "euler"], 2, "invalid choice"),
        (
            ["generate", "TINY", "--compute-schedule", "1-4"],
            2,
            "fraction:count",
        ),
        (
            ["generate", "TINY", "--compute-schedule", "0.5:4,0.5:12"],
            1,
            "does not allow",
        ),
        (["frobnicate"], 2, "invalid choice"),
        ([], 2, "required"),
    ],
)
def test_bad_arguments_give_one_line_and_a_status(
    argv, status, expected, tiny_preset, capsys
):
    argv = [tiny_preset if arg == "TINY" else arg for arg in argv]
    assert cli.main(argv) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("keras-rin: error:")
    assert expected in lines[0]


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "keras_rin", "presets"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rin_cifar10" in result.stdout
