"""Tiny stand-ins for the archives that tensorflow-datasets prepares
CIFAR-10 and ImageNet from, in their real layouts, so that the real
builders' `download_and_prepare` runs offline."""

import hashlib
import io
import os
import tarfile

import numpy as np
from PIL import Image

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_CLASSES = (
    "airplane automobile bird cat deer dog frog horse ship truck".split()
)
# The first two synsets of tensorflow-datasets' `imagenet2012` labels
# (tench, goldfish): labels 0 and 1. Their images are red and blue.
IMAGENET_SYNSETS = ("n01440764", "n01443537")
IMAGENET_COLOURS = ((220, 30, 30), (30, 30, 220))


def manual_dir(data_dir):
    """The default TFDS `manual_dir` of `data_dir`."""
    return os.path.join(data_dir, "downloads", "manual")


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _encoded(image, image_format):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, image_format)
    return buffer.getvalue()


def _random_image(rng, height, width):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_imagenet_archives(data_dir, images_per_class=4, num_val=3):
    """`ILSVRC2012_img_train.tar` (a tar of JPEGs per synset) and
    `ILSVRC2012_img_val.tar` (`ILSVRC2012_val_XXXXXXXX.JPEG` files) with
    non-square images of several sizes, in `data_dir`'s `manual_dir`.
    Each class's images have the class's colour in `IMAGENET_COLOURS`,
    with a little noise.

    Returns:
        The number of training images.
    """
    rng = np.random.default_rng(0)
    folder = manual_dir(data_dir)
    os.makedirs(folder, exist_ok=True)
    train_path = os.path.join(folder, "ILSVRC2012_img_train.tar")
    with tarfile.open(train_path, "w") as train:
        for synset, colour in zip(
            IMAGENET_SYNSETS, IMAGENET_COLOURS, strict=True
        ):
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as images:
                for index in range(images_per_class):
                    noise = _random_image(rng, 20 + index, 30) // 16
                    image = (np.array(colour, "uint8") + noise).astype("uint8")
                    name = f"{synset}_{index}.JPEG"
                    _add(images, name, _encoded(image, "JPEG"))
            _add(train, f"{synset}.tar", inner.getvalue())
    val_path = os.path.join(folder, "ILSVRC2012_img_val.tar")
    with tarfile.open(val_path, "w") as val:
        for index in range(1, num_val + 1):
            image = _random_image(rng, 25, 20)
            name = f"ILSVRC2012_val_{index:08d}.JPEG"
            _add(val, name, _encoded(image, "JPEG"))
    return len(IMAGENET_SYNSETS) * images_per_class


def write_cifar10_archive(data_dir, train_per_batch=2, num_test=2):
    """`cifar-10-binary.tar.gz` in the real binary layout (five training
    batches, a test batch, the class names) in `data_dir`'s `manual_dir`.

    Returns:
        `(path, images, labels)`: the archive, and the training images
        (uint8, `(N, 32, 32, 3)`) and labels in the order they were written.
    """
    rng = np.random.default_rng(0)
    folder = manual_dir(data_dir)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, CIFAR10_ARCHIVE)
    train_images, train_labels = [], []
    with tarfile.open(path, "w:gz") as archive:
        prefix = "cifar-10-batches-bin/"
        names = "\n".join(CIFAR10_CLASSES) + "\n"
        _add(archive, prefix + "batches.meta.txt", names.encode())
        batches = [f"data_batch_{index}.bin" for index in range(1, 6)]
        for name in [*batches, "test_batch.bin"]:
            count = num_test if name == "test_batch.bin" else train_per_batch
            images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, 10, count, dtype=np.uint8)
            if name != "test_batch.bin":
                train_images.append(images)
                train_labels.append(labels)
            records = np.concatenate(
                [
                    labels[:, None],
                    images.transpose(0, 3, 1, 2).reshape(count, -1),
                ],
                axis=1,
            )
            _add(archive, prefix + name, records.astype(np.uint8).tobytes())
    return path, np.concatenate(train_images), np.concatenate(train_labels)


def register_cifar10_archive(tfds, monkeypatch, path):
    """Makes TFDS's `cifar10` builder accept the fake archive at `path` as
    the real one: its registered size and checksum become the fake's, as
    if the real file had been put in the `manual_dir`."""
    with open(path, "rb") as file:
        content = file.read()
    url_info = tfds.core.download.checksums.UrlInfo(
        size=len(content),
        checksum=hashlib.sha256(content).hexdigest(),
        filename=CIFAR10_ARCHIVE,
    )
    builder_class = tfds.builder_cls("cifar10")
    monkeypatch.setattr(builder_class, "url_infos", {CIFAR10_URL: url_info})


def write_image_folder(directory, images_per_class=3):
    """A folder of real image files, `<class>/<image>`, as a user brings
    them: two classes, JPEGs and PNGs of several non-square sizes.

    Returns:
        The class names.
    """
    rng = np.random.default_rng(0)
    classes = ("cats", "dogs")
    for label, name in enumerate(classes):
        os.makedirs(os.path.join(directory, name), exist_ok=True)
        for index in range(images_per_class):
            image_format = ("JPEG", "PNG")[index % 2]
            extension = {"JPEG": "jpg", "PNG": "png"}[image_format]
            image = _random_image(rng, 18 + index, 24 + 4 * label)
            path = os.path.join(directory, name, f"{index}.{extension}")
            with open(path, "wb") as file:
                file.write(_encoded(image, image_format))
    return list(classes)
