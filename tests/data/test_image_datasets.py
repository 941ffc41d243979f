import os

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras_rin  # noqa: E402
from keras_rin.data import image_datasets  # noqa: E402
from keras_rin.data import load_image_folder  # noqa: E402
from keras_rin.data import load_tfds_images  # noqa: E402
from tests.helpers import tiny_backbone  # noqa: E402

_NUM_EXAMPLES = 6


@pytest.fixture
def tfds():
    tfds = pytest.importorskip("tensorflow_datasets")
    # Random examples with the features of the real data sets, offline.
    with tfds.testing.mock_data(num_examples=_NUM_EXAMPLES):
        yield tfds


def _raw(tfds, name, key):
    dataset = tfds.load(name, split="train", shuffle_files=False)
    return np.stack([example[key] for example in tfds.as_numpy(dataset)])


def _batches(dataset):
    """All the batches of a data set, as NumPy, joined."""
    batches = list(dataset.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        parts = zip(*batches, strict=True)
        return tuple(np.concatenate(part) for part in parts)
    return np.concatenate(batches)


def _side_image(height, width, sides=(50, 250), centre=(100, 200)):
    """An RGB uint8 image whose left and right quarters are `sides` and
    whose central square's left and right halves are `centre`."""
    image = np.empty((height, width, 3), "uint8")
    left, right = (width - height) // 2, (width + height) // 2
    image[:, :left], image[:, right:] = sides
    image[:, left : width // 2], image[:, width // 2 : right] = centre
    return image


def _central_square(image):
    height, width = image.shape[:2]
    left = (width - height) // 2
    return image[:, left : left + height] / 255


def _write_png(path, image):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(image).save(path)


def test_cifar10_keeps_its_size_pixels_and_labels(tfds):
    dataset = load_tfds_images(
        "cifar10", batch_size=4, shuffle=False, random_flip=False
    )
    assert dataset.element_spec[0].shape == (4, 32, 32, 3)
    assert dataset.element_spec[0].dtype == tf.float32
    assert dataset.element_spec[1].dtype == tf.int32
    assert len(dataset.class_names) == 10
    # Six examples make one full batch; the remainder is dropped.
    images, labels = _batches(dataset)
    raw = _raw(tfds, "cifar10", "image")[:4]
    np.testing.assert_allclose(images, raw / 255, atol=1e-6)
    np.testing.assert_array_equal(labels, _raw(tfds, "cifar10", "label")[:4])
    assert 0 <= labels.min() and labels.max() < 10


def test_imagenet2012_is_cropped_and_resized(tfds):
    with pytest.raises(ValueError, match="image_size"):
        load_tfds_images("imagenet2012")
    dataset = load_tfds_images("imagenet2012", image_size=8, batch_size=3)
    images, labels = _batches(dataset)
    assert images.shape == (6, 8, 8, 3) and images.dtype == "float32"
    assert 0 <= images.min() and images.max() <= 1
    assert labels.dtype == "int32"
    assert 0 <= labels.min() and labels.max() < 1000


@pytest.mark.parametrize("image_size, expected", [(None, 32), (16, 16)])
def test_imagenet_resized_is_resized_on_request(tfds, image_size, expected):
    dataset = load_tfds_images(
        "imagenet_resized/32x32", image_size=image_size, batch_size=2
    )
    images, _ = _batches(dataset)
    assert images.shape == (6, expected, expected, 3)
    assert 0 <= images.min() and images.max() <= 1


def test_other_data_sets_keep_their_channels(tfds):
    mnist = load_tfds_images("mnist", batch_size=2, with_labels=False)
    assert mnist.element_spec.shape == (2, 28, 28, 1)
    # LSUN has variable-size images and no labels.
    lsun = load_tfds_images(
        "lsun", image_size=4, batch_size=2, with_labels=False
    )
    assert _batches(lsun).shape == (6, 4, 4, 3)
    with pytest.raises(ValueError, match="with_labels=True.*label_key"):
        load_tfds_images("lsun", image_size=4)


def test_central_square_is_kept():
    image = _side_image(4, 8)
    resizer = image_datasets._resizer(4)
    square = image_datasets._square_image(tf.constant(image), resizer)
    np.testing.assert_allclose(square, _central_square(image), atol=1e-6)
    small = image_datasets._square_image(tf.constant(image), resizer=None)
    np.testing.assert_allclose(small, image / 255, atol=1e-6)


def test_tfds_flips_are_seeded_and_flip_about_half(tfds):
    def load(seed, random_flip=True):
        return load_tfds_images(
            "cifar10",
            batch_size=2,
            shuffle=False,
            random_flip=random_flip,
            seed=seed,
            repeat=True,
        ).take(8)

    images, _ = _batches(load(0, random_flip=False))
    flipped, _ = _batches(load(0))
    is_flipped = np.all(flipped == images[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(is_flipped | np.all(flipped == images, axis=(1, 2, 3)))
    assert 4 <= is_flipped.sum() <= 12
    np.testing.assert_array_equal(_batches(load(0))[0], flipped)
    assert not np.array_equal(_batches(load(1))[0], flipped)


def test_shuffled_order_is_seeded(tfds):
    def labels_and_images(seed):
        dataset = load_tfds_images(
            "cifar10", batch_size=1, random_flip=False, seed=seed
        )
        return _batches(dataset)

    first = labels_and_images(0)
    np.testing.assert_array_equal(labels_and_images(0)[0], first[0])
    assert not np.array_equal(labels_and_images(1)[0], first[0])


def test_without_labels_repeat_and_remainder(tfds):
    dataset = load_tfds_images(
        "cifar10", batch_size=4, with_labels=False, drop_remainder=False
    )
    assert dataset.class_names is None
    assert [len(batch) for batch in dataset.as_numpy_iterator()] == [4, 2]
    endless = load_tfds_images("cifar10", batch_size=4, repeat=True)
    assert len(list(endless.take(5))) == 5


def test_builder_splits_and_crop(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    image = _side_image(6, 12)
    _write_png(str(tmp_path / "train" / "cats" / "a.png"), image)
    _write_png(str(tmp_path / "train" / "dogs" / "b.png"), image[:, 2:-2])
    _write_png(str(tmp_path / "test" / "dogs" / "c.png"), image)
    builder = tfds.ImageFolder(str(tmp_path))

    def load(split):
        return load_tfds_images(
            None,
            split,
            image_size=6,
            batch_size=1,
            shuffle=False,
            random_flip=False,
            builder=builder,
        )

    images, labels = _batches(load("train"))
    assert load("train").class_names == ["cats", "dogs"]
    assert sorted(labels) == [0, 1]
    for square in images:
        np.testing.assert_allclose(square, _central_square(image), atol=1e-5)
    assert len(_batches(load("test"))[0]) == 1
    with pytest.raises(ValueError, match="split.*'test', 'train'"):
        load("validation")


def test_tfds_errors(tfds):
    with pytest.raises(ValueError, match="`name`.*no_such_images"):
        load_tfds_images("no_such_images")
    with pytest.raises(ValueError, match="`name`.*7x7"):
        load_tfds_images("imagenet_resized/7x7")
    with pytest.raises(ValueError, match="image_key.*'image', 'label'"):
        load_tfds_images("cifar10", image_key="pixels")
    with pytest.raises(ValueError, match="label_key.*'label'"):
        load_tfds_images("cifar10", label_key="id")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"image_size": 0}, "image_size"),
        ({"image_size": 1.5}, "image_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
        load_tfds_images("cifar10", **kwargs)
    kwargs = {"image_size": 8, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
        load_image_folder("unused", **kwargs)


def test_bad_shuffle_buffer_and_missing_image_size():
    with pytest.raises(ValueError, match="shuffle_buffer"):
        load_tfds_images("cifar10", shuffle_buffer=0)
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder("unused", image_size=None)


@pytest.fixture
def image_folder(tmp_path):
    """`cats/` and `dogs/` with two 6x12 images each and a 12x6 dog."""
    image = _side_image(6, 12)
    for path in ("cats/a.png", "cats/b.png", "dogs/c.png", "dogs/d.jpg"):
        _write_png(str(tmp_path / path), image)
    _write_png(str(tmp_path / "dogs" / "e.png"), image.transpose(1, 0, 2))
    return tmp_path


def test_folder_images_labels_and_class_names(image_folder):
    dataset = load_image_folder(
        image_folder,
        image_size=6,
        batch_size=2,
        shuffle=False,
        random_flip=False,
        drop_remainder=False,
    )
    assert dataset.class_names == ["cats", "dogs"]
    names = [os.path.basename(path) for path in dataset.file_paths]
    assert names == ["a.png", "b.png", "c.png", "d.jpg", "e.png"]
    images, labels = _batches(dataset)
    assert images.shape == (5, 6, 6, 3) and images.dtype == "float32"
    assert labels.dtype == "int32" and labels.tolist() == [0, 0, 1, 1, 1]
    square = _central_square(_side_image(6, 12))
    for index in (0, 1, 2):
        np.testing.assert_allclose(images[index], square, atol=1e-6)
    # A JPEG is close.
    np.testing.assert_allclose(images[3], square, atol=0.05)
    # The tall image keeps its middle rows.
    np.testing.assert_allclose(images[4], square.transpose(1, 0, 2), atol=1e-6)


def test_folder_flips_are_seeded_and_flip_about_half(tmp_path):
    image = _side_image(4, 4, centre=(0, 255))
    for index in range(16):
        _write_png(str(tmp_path / f"{index:02d}.png"), image)

    def flips(seed):
        dataset = load_image_folder(
            tmp_path, image_size=4, batch_size=4, with_labels=False, seed=seed
        )
        assert dataset.class_names is None and len(dataset.file_paths) == 16
        left = _batches(dataset)[:, 0, 0, 0]
        assert set(left.tolist()) <= {0.0, 1.0}
        return left

    flipped = flips(0)
    assert 4 <= flipped.sum() <= 12
    np.testing.assert_array_equal(flips(0), flipped)
    assert not np.array_equal(flips(1), flipped)


def test_flat_folder_without_labels_and_repeat(tmp_path):
    _write_png(str(tmp_path / "a.png"), _side_image(6, 12))
    with pytest.raises(ValueError, match="directory.*with_labels=False"):
        load_image_folder(tmp_path, image_size=4)
    _write_png(str(tmp_path / "more" / "b.png"), _side_image(6, 6))
    dataset = load_image_folder(
        tmp_path, image_size=4, batch_size=3, with_labels=False, repeat=True
    )
    assert dataset.element_spec.shape == (3, 4, 4, 3)
    assert len(list(dataset.take(2))) == 2


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        load_image_folder(tmp_path / "missing", image_size=4)
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="directory.*no images"):
        load_image_folder(tmp_path, image_size=4, with_labels=False)


def test_a_folder_data_set_feeds_fit(image_folder):
    dataset = load_image_folder(
        image_folder, image_size=8, batch_size=2, repeat=True
    )
    backbone = tiny_backbone(image_shape=(8, 8, 3), num_classes=2)
    model = keras_rin.RINImageGenerator(backbone)
    # Tracing the train step takes half a minute on TensorFlow; the data
    # goes through `fit` the same way without it.
    eager = keras.config.backend() == "tensorflow"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=eager)
    history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
