"""The training examples on data prepared the way users prepare it: the
real tensorflow-datasets builders fed archives in their real layout, a
folder of image files, and a clear exit when the data is missing."""

import os
import subprocess
import sys

import keras
import pytest

pytest.importorskip("tensorflow")
tfds = pytest.importorskip("tensorflow_datasets")

from tests.data import fake_archives  # noqa: E402
from tests.examples import EXAMPLES  # noqa: E402
from tests.examples import check_run_dir  # noqa: E402
from tests.examples import load_example  # noqa: E402

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

# A proxy that refuses every connection: "no network", even on a machine
# that has one.
_NO_NETWORK = "http://127.0.0.1:9"


def test_imagenet_example_prepares_and_trains_on_the_real_archives(tmp_path):
    data_dir, run_dir = str(tmp_path / "data"), str(tmp_path / "run")
    fake_archives.write_imagenet_archives(data_dir)
    imagenet = load_example("imagenet")
    model = imagenet.main(
        ["--tiny", "--data-dir", data_dir, "--run-dir", run_dir]
    )
    check_run_dir(run_dir, model)
    prepared = tfds.builder("imagenet2012", data_dir=data_dir)
    assert prepared.is_prepared()
    assert prepared.info.splits["train"].num_examples == 8


def test_imagenet_example_trains_on_a_folder_of_images(tmp_path):
    folder, run_dir = tmp_path / "my_images", str(tmp_path / "run")
    fake_archives.write_image_folder(folder)
    imagenet = load_example("imagenet")
    argv = ["--tiny", "--dataset", f"folder:{folder}", "--run-dir", run_dir]
    model = imagenet.main(argv)
    check_run_dir(run_dir, model)


def test_cifar10_example_trains_on_an_archive_in_the_manual_dir(
    tmp_path, monkeypatch
):
    data_dir, run_dir = str(tmp_path / "data"), str(tmp_path / "run")
    path, _, _ = fake_archives.write_cifar10_archive(data_dir)
    fake_archives.register_cifar10_archive(tfds, monkeypatch, path)
    monkeypatch.setenv("HTTPS_PROXY", _NO_NETWORK)
    cifar10 = load_example("cifar10")
    model = cifar10.main(
        ["--tiny", "--data-dir", data_dir, "--run-dir", run_dir]
    )
    check_run_dir(run_dir, model)


def test_cifar10_example_without_network_says_so(tmp_path, monkeypatch):
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, _NO_NETWORK)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    cifar10 = load_example("cifar10")
    argv = ["--tiny", "--data-dir", str(tmp_path), "--run-dir", "unused"]
    with pytest.raises(SystemExit) as info:
        cifar10.run(argv)
    message = str(info.value.code)
    assert "network is not reachable" in message
    assert fake_archives.CIFAR10_ARCHIVE in message
    backend = keras.config.backend()
    assert message.endswith(
        f"KERAS_BACKEND={backend} python examples/cifar10.py --tiny "
        f"--data-dir {tmp_path} --run-dir unused"
    )
    assert not os.path.exists("unused")


def test_imagenet_example_without_archives_exits_without_a_traceback(
    tmp_path,
):
    command = [
        sys.executable,
        os.path.join(EXAMPLES, "imagenet.py"),
        "--data-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    manual_dir = fake_archives.manual_dir(str(tmp_path))
    assert f"put its files in {manual_dir}/" in result.stderr
    assert "ILSVRC2012_img_train.tar" in result.stderr
    assert "Then run again:" in result.stderr
    assert f"imagenet.py --data-dir {tmp_path}" in result.stderr
