"""`export_backbone(backbone, path, format="onnx")`: the ONNX file, run
by ONNX Runtime at two batch sizes, gives `backbone(inputs,
training=False)`'s outputs, by name, on every backend."""

import os

import keras
import numpy as np
import onnxruntime
import pytest

from keras_rin.models import backbone_export
from tests.helpers import backbone_inputs
from tests.helpers import randomize
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone
from tests.helpers import to_numpy

# ONNX Runtime fuses and reorders the float32 arithmetic (LayerNorm,
# attention's softmax, GELU). The prediction is O(1) and differs by at
# most 4e-7 on every backend.
PREDICTION_ATOL = 1e-5
# The latents are the unnormalised residual stream, about 30 at most with
# these random weights, and differ by up to 1.4e-5 (5e-7 of their scale):
# their error is held relative to their largest value.
LATENTS_RTOL = 2e-5


def _backbone(**overrides):
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(**overrides)
    # Random weights everywhere (the zero-initialised self-conditioning
    # path and LayerNorm scales included): every input changes the outputs.
    randomize(backbone)
    return backbone


def _feed(backbone, batch, seed):
    """The backbone's inputs and the same arrays by ONNX input name; the
    first example has no class (`-1`, classifier-free guidance)."""
    inputs = backbone_inputs(backbone, batch=batch, seed=seed)
    if "labels" in inputs:
        inputs["labels"][0] = -1
    feed = {
        ("input_latents" if key == "latents" else key): value
        for key, value in inputs.items()
    }
    return inputs, feed


def _run(session, feed):
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, feed), strict=True))


def _assert_matches(got, expected):
    np.testing.assert_allclose(
        got["prediction"], expected["prediction"], rtol=0, atol=PREDICTION_ATOL
    )
    scale = np.abs(expected["latents"]).max()
    np.testing.assert_allclose(
        got["latents"], expected["latents"], rtol=0, atol=LATENTS_RTOL * scale
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    backbone = _backbone()
    path = tmp_path_factory.mktemp("onnx") / "backbone.onnx"
    returned = backbone_export.export_backbone(backbone, path)
    return backbone, returned, onnxruntime.InferenceSession(returned)


def test_the_file_gives_the_backbone_outputs_at_any_batch_size(exported):
    backbone, _, session = exported
    for batch in (3, 1):
        inputs, feed = _feed(backbone, batch, seed=batch)
        expected = to_numpy(backbone(inputs, training=False))
        got = _run(session, feed)
        assert got["prediction"].shape == (batch, 8, 8, 1)
        _assert_matches(got, expected)
    # Each input changes the outputs, so each is compared above.
    _, feed = _feed(backbone, 3, seed=3)
    _, other = _feed(backbone, 3, seed=4)
    base = _run(session, feed)
    for name in feed:
        changed = _run(session, dict(feed, **{name: other[name]}))
        assert np.abs(changed["prediction"] - base["prediction"]).max() > 1e-3


def test_inputs_and_outputs_are_named_with_a_dynamic_batch(exported):
    _, path, session = exported
    assert path == os.path.abspath(path) and path.endswith("backbone.onnx")
    inputs = {node.name: node for node in session.get_inputs()}
    assert sorted(inputs) == [
        "input_latents",
        "labels",
        "noise_levels",
        "noisy_images",
    ]
    assert inputs["labels"].type == "tensor(int32)"
    assert inputs["noisy_images"].shape[1:] == [8, 8, 1]
    assert inputs["input_latents"].shape[1:] == [12, 32]
    for node in list(session.get_inputs()) + list(session.get_outputs()):
        assert not isinstance(node.shape[0], int), node
    assert sorted(o.name for o in session.get_outputs()) == [
        "latents",
        "prediction",
    ]
    # Nothing is left beside the file.
    assert os.listdir(os.path.dirname(path)) == ["backbone.onnx"]


def test_an_unconditional_backbone_has_no_labels_input(tmp_path):
    backbone = _backbone(num_classes=None)
    path = backbone.export_backbone(str(tmp_path / "u.onnx"))
    session = onnxruntime.InferenceSession(path)
    assert sorted(node.name for node in session.get_inputs()) == [
        "input_latents",
        "noise_levels",
        "noisy_images",
    ]
    inputs, feed = _feed(backbone, 2, seed=5)
    expected = to_numpy(backbone(inputs, training=False))
    _assert_matches(_run(session, feed), expected)


def test_a_video_backbone_takes_noisy_videos():
    specs = backbone_export.input_specs(tiny_video_backbone())
    assert [spec.name for spec in specs.values()] == [
        "noisy_videos",
        "noise_levels",
        "input_latents",
    ]
    assert specs["noisy_videos"].shape == (None, 4, 8, 8, 3)


@pytest.mark.parametrize("format", ["savedmodel", "ONNX", None, "tflite"])
def test_other_formats_are_refused(format, tmp_path):
    with pytest.raises(ValueError, match='`format` must be "onnx"'):
        backbone_export.export_backbone(
            object(), tmp_path / "b.onnx", format=format
        )


@pytest.mark.parametrize("path", ["", None, 3, "DIRECTORY"])
def test_bad_paths_are_refused(path, tmp_path):
    if path == "DIRECTORY":
        path = tmp_path
    with pytest.raises(ValueError, match="`path` must be a file path"):
        backbone_export.export_backbone(object(), path)


def test_a_failed_export_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "b.onnx"
    path.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise RuntimeError("export failed")

    monkeypatch.setattr(backbone_export, "input_specs", fail)
    with pytest.raises(RuntimeError, match="export failed"):
        backbone_export.export_backbone(_backbone(), path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["b.onnx"]


def test_a_missing_exporter_says_what_to_install(monkeypatch):
    exporter = dict(jax="jax2onnx", tensorflow="tf2onnx", torch="onnxscript")[
        keras.config.backend()
    ]
    find_spec = backbone_export.importlib.util.find_spec
    monkeypatch.setattr(
        backbone_export.importlib.util,
        "find_spec",
        lambda name: None if name == exporter else find_spec(name),
    )
    with pytest.raises(ImportError, match=rf"keras-rin\[onnx\].*{exporter}"):
        backbone_export.export_backbone(object(), "b.onnx")
