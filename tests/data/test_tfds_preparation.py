"""The real tensorflow-datasets builders prepare data offline from files
in the `manual_dir`, and say what is missing when they cannot (no mock
data here: `download_and_prepare` runs)."""

import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")
tfds = pytest.importorskip("tensorflow_datasets")

from keras_rin.data import DataUnavailableError  # noqa: E402
from keras_rin.data import load_tfds_images  # noqa: E402
from keras_rin.data import tfds_preparation  # noqa: E402
from tests.data import fake_archives  # noqa: E402

# A proxy that refuses every connection: "no network", even on a machine
# that has one.
_NO_NETWORK = "http://127.0.0.1:9"


def _all(dataset):
    parts = zip(*dataset.as_numpy_iterator(), strict=True)
    return tuple(np.concatenate(part) for part in parts)


def test_imagenet2012_is_prepared_from_its_archives(tmp_path):
    data_dir = str(tmp_path)
    num_train = fake_archives.write_imagenet_archives(data_dir)
    dataset = load_tfds_images(
        "imagenet2012",
        image_size=8,
        batch_size=2,
        data_dir=data_dir,
        shuffle=False,
        random_flip=False,
    )
    images, labels = _all(dataset)
    assert images.shape == (num_train, 8, 8, 3)
    assert 0 <= images.min() and images.max() <= 1
    # Labels are the synsets' indices in ImageNet's 1000 classes, each
    # with its class's colour.
    np.testing.assert_array_equal(np.sort(labels), [0] * 4 + [1] * 4)
    colours = np.array(fake_archives.IMAGENET_COLOURS)[labels] / 255
    np.testing.assert_allclose(images.mean(axis=(1, 2)), colours, atol=0.06)
    assert dataset.class_names[:2] == list(fake_archives.IMAGENET_SYNSETS)
    validation = load_tfds_images(
        "imagenet2012",
        "validation",
        image_size=4,
        batch_size=1,
        data_dir=data_dir,
    )
    assert _all(validation)[0].shape == (3, 4, 4, 3)


def test_cifar10_is_prepared_from_an_archive_in_the_manual_dir(
    tmp_path, monkeypatch
):
    data_dir = str(tmp_path)
    path, images, labels = fake_archives.write_cifar10_archive(data_dir)
    fake_archives.register_cifar10_archive(tfds, monkeypatch, path)
    # The archive is read from the manual_dir: the network is not used.
    monkeypatch.setenv("HTTPS_PROXY", _NO_NETWORK)
    dataset = load_tfds_images(
        "cifar10",
        batch_size=len(images),
        data_dir=data_dir,
        shuffle=False,
        random_flip=False,
    )
    read_images, read_labels = _all(dataset)
    # TFDS stores the examples in its own order: match them by pixels.
    written = {
        image.tobytes(): label
        for image, label in zip(images, labels, strict=True)
    }
    read = np.round(read_images * 255).astype("uint8")
    assert len(read) == len(images)
    for image, label in zip(read, read_labels, strict=True):
        assert written[image.tobytes()] == label
    assert dataset.class_names == list(fake_archives.CIFAR10_CLASSES)


def test_missing_imagenet_archives_say_where_they_go(tmp_path):
    manual_dir = fake_archives.manual_dir(str(tmp_path))
    with pytest.raises(DataUnavailableError) as info:
        load_tfds_images("imagenet2012", image_size=8, data_dir=tmp_path)
    message = str(info.value)
    assert "'imagenet2012' is not prepared" in message
    assert f"put its files in {manual_dir}/" in message
    assert "ILSVRC2012_img_train.tar" in message
    assert "ILSVRC2012_img_val.tar" in message
    assert isinstance(info.value, ValueError)
    # A broken archive is not reported as a missing one.
    os.makedirs(manual_dir)
    with open(os.path.join(manual_dir, "ILSVRC2012_img_train.tar"), "wb") as f:
        f.write(b"not a tar file")
    with pytest.raises(DataUnavailableError) as info:
        load_tfds_images("imagenet2012", image_size=8, data_dir=tmp_path)
    assert f"could not prepare it from the files in {manual_dir}/" in str(
        info.value
    )


def test_downloads_without_network_say_so_and_offer_the_manual_dir(
    tmp_path, monkeypatch
):
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, _NO_NETWORK)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(DataUnavailableError) as info:
        load_tfds_images("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert "can only be downloaded" in message
    assert "network is not reachable" in message
    manual_dir = fake_archives.manual_dir(str(tmp_path))
    assert f"put them in {manual_dir}/" in message
    assert f"{fake_archives.CIFAR10_ARCHIVE} ({fake_archives.CIFAR10_URL})" in (
        message
    )


def test_a_missing_module_names_the_install_command(tmp_path):
    builder = tfds.builder("cifar10", data_dir=str(tmp_path))
    error = ModuleNotFoundError(
        "No module named 'importlib_resources'", name="importlib_resources"
    )
    message = tfds_preparation.explain(builder, "cifar10", error)
    assert "needs the module 'importlib_resources'" in message
    assert 'pip install "keras-rin[data]"' in message


def test_tensorflow_datasets_can_prepare_data_sets():
    """What tensorflow-datasets imports to prepare any data set (and does
    not declare for this Python) is installed."""
    builder = tfds.builder("cifar10")
    assert builder.code_path is not None
