import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from PIL import Image

import keras_rin
from keras_rin import _cli_startup
from keras_rin import cli
from tests.helpers import tiny_backbone

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


@pytest.fixture(scope="module")
def no_backbone_preset(tiny_preset, tmp_path_factory):
    directory = tmp_path_factory.mktemp("presets") / "no_backbone"
    directory.mkdir()
    with open(os.path.join(tiny_preset, "config.json")) as file:
        config = json.load(file)
    del config["config"]["backbone"]
    (directory / "config.json").write_text(json.dumps(config))
    return str(directory)


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
    output = os.path.join(tmp_path, "new", "folder", "grid.png")
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


def _capture_generate(monkeypatch):
    """Records the arguments of `RINImageGenerator.generate` calls."""
    calls = []
    original = keras_rin.RINImageGenerator.generate

    def generate(self, **kwargs):
        calls.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(keras_rin.RINImageGenerator, "generate", generate)
    return calls


def test_generate_takes_the_sampling_options(
    tiny_preset, tmp_path, monkeypatch
):
    calls = _capture_generate(monkeypatch)
    output = os.path.join(tmp_path, "grid.png")
    argv = ["generate", tiny_preset, "--labels", "0,1", "--output", output]
    options = [
        *("--sampler", "heun", "--steps", "2", "--spacing", "edm"),
        *("--guidance-scale", "2", "--guidance-interval", "0.1,0.9"),
    ]
    assert cli.main(argv + options) == 0
    assert calls[-1]["sampler"] == "heun" and calls[-1]["num_steps"] == 2
    assert calls[-1]["spacing"] == "edm"
    assert calls[-1]["guidance_interval"] == (0.1, 0.9)
    assert cli.main(argv + ["--sampler", "ddim", "--eta", "0.5"]) == 0
    assert calls[-1]["eta"] == 0.5
    # Without options, the preset's own sampler and step count.
    assert cli.main(argv) == 0
    assert calls[-1]["sampler"] is None and calls[-1]["num_steps"] is None


def test_generate_edits_an_image_file(tiny_preset, tmp_path, monkeypatch):
    calls = _capture_generate(monkeypatch)
    pixels = np.arange(256, dtype="uint8").reshape(16, 16)
    image_path = os.path.join(tmp_path, "init.png")
    Image.fromarray(pixels).convert("RGB").save(image_path)
    mask_path = os.path.join(tmp_path, "mask.png")
    mask = np.zeros((16, 16), "uint8")
    mask[8:] = 255
    Image.fromarray(mask).save(mask_path)
    output = os.path.join(tmp_path, "grid.png")
    argv = ["generate", tiny_preset, "--labels", "0,1,2", "--steps", "2"]
    edit = ["--init-image", image_path, "--strength", "0.5"]
    assert cli.main(argv + edit + ["--output", output]) == 0
    init = calls[-1]["init_images"]
    # Resized to the model's 8x8 grey images, one per label.
    assert init.shape == (3, 8, 8, 1) and init.dtype == np.uint8
    assert calls[-1]["strength"] == 0.5 and calls[-1]["mask"] is None
    inpaint = ["--init-image", image_path, "--mask", mask_path]
    assert cli.main(argv + inpaint + ["--output", output]) == 0
    expected = np.zeros((8, 8), bool)
    expected[4:] = True
    np.testing.assert_array_equal(calls[-1]["mask"], expected)


def test_the_command_names_every_sampler_and_spacing():
    from keras_rin.diffusion import noise_grids
    from keras_rin.diffusion import samplers

    assert cli.SAMPLERS == samplers.SAMPLERS
    assert cli.SPACINGS == noise_grids.SPACINGS


def stand_in_huggingface_hub(monkeypatch):
    """Records the upload calls of a stand-in `huggingface_hub`."""
    calls = []
    stand_in = types.SimpleNamespace(
        create_repo=lambda **kwargs: calls.append(("create_repo", kwargs)),
        upload_folder=lambda **kwargs: calls.append(("upload_folder", kwargs)),
    )
    monkeypatch.setitem(sys.modules, "huggingface_hub", stand_in)
    return calls


def test_upload_publishes_a_checked_preset(
    tiny_preset, tmp_path, monkeypatch, capsys
):
    calls = stand_in_huggingface_hub(monkeypatch)
    directory = str(tmp_path / "tiny")
    shutil.copytree(tiny_preset, directory)
    (tmp_path / "tiny" / "README.md").write_text("# Tiny RIN\n")
    assert cli.main(["upload", directory, "hf://org/tiny"]) == 0
    assert "hf://org/tiny" in capsys.readouterr().out
    assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
    assert calls[1][1]["folder_path"] == os.path.abspath(directory)


def test_upload_refuses_an_incomplete_preset(tiny_preset, monkeypatch, capsys):
    # The fixture's preset has no model card.
    calls = stand_in_huggingface_hub(monkeypatch)
    assert cli.main(["upload", tiny_preset, "hf://org/tiny"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and calls == []
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert f"Cannot upload preset '{tiny_preset}'" in lines[0]
    assert "README.md is missing" in lines[0]


def test_export_writes_a_servable_sampler(tmp_path, capsys):
    # An unconditional preset: its SavedModel serves a fixed batch.
    preset = str(tmp_path / "unconditional")
    keras_rin.RINImageGenerator(tiny_backbone(num_classes=None)).save_to_preset(
        preset
    )
    path = str(tmp_path / "sampler")
    argv = ["export", preset, path, "--steps", "2", "--num-images", "2"]
    status = cli.main(argv)
    if keras.config.backend() == "torch":
        # One line that says how to export instead.
        assert status == 1
        assert "JAX or TensorFlow" in capsys.readouterr().err
        return
    assert status == 0
    assert path in capsys.readouterr().out
    import tensorflow as tf

    from keras_rin.utils import seeds

    loaded = tf.saved_model.load(path)
    served = loaded.serve(tf.constant(seeds.batch_seed(5, 0), tf.int32))
    model = keras_rin.RINImageGenerator.from_preset(preset)
    expected = model.generate(num_images=2, num_steps=2, seed=5, verbose=0)
    np.testing.assert_allclose(served["images"].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "argv, status, expected",
    [
        (["generate", "rin_nope"], 1, "Cannot load preset 'rin_nope'"),
        (["generate", "TINY", "--spacing", "karras"], 2, "invalid choice"),
        (
            ["generate", "TINY", "--guidance-interval", "0.5"],
            2,
            "--guidance-interval",
        ),
        (["generate", "TINY", "--mask", "m.png"], 2, "needs --init-image"),
        (["generate", "TINY", "--init-image", "nope.png"], 2, "--init-image"),
        (["generate", "TINY", "--strength", "0.5"], 1, "`strength`"),
        (["generate", "TINY", "--sampler", "heun", "--eta", "1"], 1, "`eta`"),
        (["generate", "TINY", "--labels", "7"], 1, "labels"),
        (["generate", "TINY", "--labels", ""], 2, "argument --labels"),
        (["generate", "TINY", "--labels", ","], 2, "argument --labels"),
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
        # The output is checked before the preset is even looked up.
        (["generate", "rin_nope", "--output", "out.xyz"], 2, "--output"),
        (["generate", "rin_nope", "--output", "samples"], 2, "--output"),
        (["generate", "TINY", "--output", "TINY/config.json/a.png"], 2, "TINY"),
        # The URI is checked before the hub library is imported.
        (["upload", "TINY", "s3://bucket/tiny"], 1, "unknown scheme"),
        (["upload", "TINY"], 2, "required: uri"),
        (["--backend", "cntk", "presets"], 2, "invalid choice"),
        (["frobnicate"], 2, "invalid choice"),
        ([], 2, "required"),
    ],
)
def test_bad_arguments_give_one_line_and_a_status(
    argv, status, expected, tiny_preset, capsys
):
    argv = [arg.replace("TINY", tiny_preset) for arg in argv]
    assert cli.main(argv) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("keras-rin: error:")
    assert expected.replace("TINY", tiny_preset) in lines[0]


@pytest.mark.parametrize("command", ["generate", "info"])
def test_a_preset_without_a_backbone_is_one_line(
    command, no_backbone_preset, capsys
):
    assert cli.main([command, no_backbone_preset]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"'{no_backbone_preset}'" in lines[0]
    assert "no backbone" in lines[0]


def test_backend_option_must_match_a_running_keras(capsys):
    running = keras.backend.backend()
    assert cli.main(["presets", "--backend", running]) == 0
    other = "torch" if running != "torch" else "jax"
    assert cli.main(["--backend", other, "presets"]) == 1
    error = capsys.readouterr().err.strip()
    assert f"--backend {other}: this process already runs keras" in error
    assert len(error.splitlines()) == 1


def fake_find_spec(*installed):
    return lambda name: object() if name in installed else None


@pytest.mark.parametrize(
    "installed, keras_json, expected",
    [
        (("jax", "torch", "tensorflow"), None, "jax"),
        (("torch", "tensorflow"), None, "torch"),
        (("tensorflow",), None, "tensorflow"),
        # Keras writes keras.json, naming tensorflow, on its first import.
        (("jax",), "tensorflow", "jax"),
        (("jax", "torch"), "torch", "torch"),
    ],
)
def test_without_a_named_backend_the_first_installed_is_taken(
    installed, keras_json, expected, tmp_path
):
    if keras_json:
        config = json.dumps({"backend": keras_json})
        (tmp_path / "keras.json").write_text(config)
    environ = {"KERAS_HOME": str(tmp_path)}
    find_spec = fake_find_spec(*installed)
    backend, note = _cli_startup.choose_backend(None, environ, find_spec)
    assert backend == expected
    assert f"Using the {expected} backend" in note
    assert "KERAS_BACKEND is not set" in note


def test_a_named_backend_wins_when_installed(tmp_path):
    environ = {"KERAS_BACKEND": "torch", "KERAS_HOME": str(tmp_path)}
    find_spec = fake_find_spec("jax", "torch", "tensorflow")
    choose = _cli_startup.choose_backend
    assert choose(None, environ, find_spec) == ("torch", None)
    assert choose("tensorflow", environ, find_spec) == ("tensorflow", None)


@pytest.mark.parametrize(
    "requested, environ, installed, expected",
    [
        (
            "torch",
            {"KERAS_BACKEND": "jax"},
            ("jax", "tensorflow"),
            "--backend torch: the torch backend is not installed "
            "(installed: jax, tensorflow); install it with pip install "
            '"keras-rin[torch]"',
        ),
        (
            None,
            {"KERAS_BACKEND": "tensorflow"},
            ("jax",),
            "KERAS_BACKEND=tensorflow: the tensorflow backend is not "
            "installed (installed: jax)",
        ),
        (None, {"KERAS_BACKEND": "cntk"}, ("jax",), "runs on jax, tensorflow"),
        (None, {}, (), 'pip install "keras-rin[jax]"'),
    ],
)
def test_a_missing_backend_is_named_with_its_install_command(
    requested, environ, installed, expected, tmp_path
):
    environ = dict(environ, KERAS_HOME=str(tmp_path))
    with pytest.raises(_cli_startup.BackendError, match=re.escape(expected)):
        _cli_startup.choose_backend(
            requested, environ, fake_find_spec(*installed)
        )


def test_the_backend_is_chosen_only_for_the_command():
    requested = _cli_startup.requested_backend
    assert requested(["generate", "x", "--backend", "torch"]) == "torch"
    assert requested(["--backend=jax", "presets"]) == "jax"
    assert requested(["--backend", "cntk", "presets"]) is None
    launched = _cli_startup.launched_as_cli
    assert launched(["/venv/bin/keras-rin", "presets"], [])
    assert launched(["keras-rin.exe"], [])
    python = sys.executable
    assert launched(["-m", "presets"], [python, "-m", "keras_rin", "presets"])
    assert launched(["-m"], [python, "-X", "dev", "-mkeras_rin"])
    assert not launched(["-m", "x"], [python, "-m", "pytest", "x"])
    assert not launched(["/venv/bin/pytest"], ["/venv/bin/pytest"])


# The command's processes choose their own backend, whatever the suite's:
# one backend runs them (each pays a backend's imports).
in_a_fresh_process = pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="a fresh process chooses its own backend: run once, on JAX",
)


def run_command(argv, tmp_path, blocked=(), **environ):
    """Runs the command in a fresh process: `argv[0]` "keras-rin" runs the
    console script as pip writes it, "-m" runs `python -m keras_rin`.
    The `blocked` packages cannot be imported: they are not installed."""
    stub = tmp_path / "stub"
    stub.mkdir(exist_ok=True)
    (stub / "sitecustomize.py").write_text(
        "import sys\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    )
    if argv[0] == "keras-rin":
        (entry_point,) = importlib.metadata.entry_points(
            group="console_scripts", name="keras-rin"
        )
        script = tmp_path / "keras-rin"
        script.write_text(
            f"import sys\nfrom {entry_point.module} import "
            f"{entry_point.attr}\nsys.exit({entry_point.attr}())\n"
        )
        command = [sys.executable, str(script), *argv[1:]]
    else:
        command = [sys.executable, "-m", "keras_rin", *argv[1:]]
    environ = {
        **{
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("KERAS_", "TF_CPP_"))
        },
        "PYTHONPATH": os.pathsep.join([str(stub), REPO_ROOT]),
        "KERAS_HOME": str(tmp_path / "keras_home"),
        **environ,
    }
    return subprocess.run(
        command, capture_output=True, text=True, env=environ, check=False
    )


@in_a_fresh_process
def test_the_command_takes_an_installed_backend_and_says_which(
    tiny_preset, tmp_path
):
    # As after `pip install ".[jax]"`: no KERAS_BACKEND, and Keras' default,
    # tensorflow, not installed.
    output = str(tmp_path / "grid.png")
    argv = ["keras-rin", "generate", tiny_preset, "--labels", "0"]
    argv += ["--steps", "1", "--output", output]
    result = run_command(argv, tmp_path, blocked=["tensorflow"])
    assert result.returncode == 0, result.stderr
    assert "Saved 1 images" in result.stdout
    note = "Using the jax backend (KERAS_BACKEND is not set)."
    assert result.stderr.strip() == note


@in_a_fresh_process
def test_the_backend_option_wins_and_tensorflow_starts_quietly(tmp_path):
    # Were KERAS_BACKEND taken, jax (not installed) would be an error.
    argv = ["-m", "presets", "--backend", "tensorflow"]
    result = run_command(argv, tmp_path, blocked=["jax"], KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr
    assert "rin_cifar10" in result.stdout
    assert result.stderr == ""


@in_a_fresh_process
def test_a_backend_that_is_not_installed_is_one_line(tmp_path):
    argv = ["-m", "--backend", "torch", "generate", "rin_digits"]
    result = run_command(argv, tmp_path, blocked=["torch"])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("keras-rin: error: --backend torch: ")
    assert 'pip install "keras-rin[torch]"' in lines[0]
