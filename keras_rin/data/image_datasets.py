import os

import keras
import numpy as np

from keras_rin.data import tfds_preparation
from keras_rin.utils import validation
from keras_rin.utils.imports import optional_import

# The files `keras.utils.image_dataset_from_directory` reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def load_tfds_images(
    name,
    split="train",
    image_size=None,
    batch_size=64,
    shuffle=True,
    random_flip=True,
    with_labels=True,
    data_dir=None,
    seed=0,
    image_key="image",
    label_key="label",
    builder=None,
    drop_remainder=True,
    repeat=False,
    shuffle_buffer=10_000,
):
    """Images from a TensorFlow Datasets image data set, as a `tf.data`
    pipeline for `fit`.

    As in RIN's official code, images are cropped to their central square
    and resized to `image_size` (bicubic, antialiased, clipped to [0, 1]),
    then flipped left-right at random. Images that already are
    `image_size` squares are left as they are. So:

    - `"cifar10"` and `"imagenet_resized/8x8"` (`/16x16`, `/32x32`,
      `/64x64`) keep their native size by default (`image_size=None`) and
      are resized when another `image_size` is asked for.
    - `"imagenet2012"`, whose images have variable sizes, needs an
      `image_size`. TFDS cannot download ImageNet: put its archives
      (`ILSVRC2012_img_train.tar`, `ILSVRC2012_img_val.tar`) in the TFDS
      `manual_dir`, `<data_dir>/downloads/manual` (`data_dir` defaults to
      `~/tensorflow_datasets`); TFDS prepares it on first use.
    - any other TFDS image data set works the same way, its image and label
      features named by `image_key` and `label_key`.

    Images keep the data set's channels (MNIST stays grayscale, with one
    channel). The flips come from `keras.layers.RandomFlip`, which runs in
    `tf.data` whatever the Keras backend, so the data set feeds `fit` on
    JAX, TensorFlow and PyTorch alike.

    With `shuffle`, the files and, in a buffer of `shuffle_buffer`, the
    (still encoded) examples are read in a new order every epoch. The
    order and the flips are deterministic for a given `seed`.

    A data set that is not prepared is downloaded and prepared on first
    use, as `tfds.load` does. Without a network, the files TFDS would
    download (`cifar-10-binary.tar.gz` for CIFAR-10) may be put in the
    `manual_dir` instead: TFDS checks their checksums and prepares the data
    set from them. When the data cannot be had, a
    `keras_rin.data.DataUnavailableError` (a `ValueError`) says what is
    missing and where it goes.

    Needs `tensorflow` and `tensorflow-datasets`
    (`pip install "keras-rin[data]"`, which also installs what
    tensorflow-datasets needs to prepare data sets).

    Args:
        name: TFDS name, optionally with a config and version, for example
            `"cifar10"`, `"imagenet2012"` or `"imagenet_resized/64x64"`.
        split: TFDS split, for example `"train"` or `"train[:90%]"`.
        image_size: int or `None`, the height and width of the output
            images. `None` keeps the native size of data sets of fixed-size
            square images.
        batch_size: int or `None`, the batch size; `None` for single
            images.
        shuffle: bool, read the examples in a random order.
        random_flip: bool, flip images left-right with probability 1/2.
        with_labels: bool, also return the integer `label_key` feature.
        data_dir: str or `None`, where TFDS keeps its data.
        seed: int or `None`, the seed of the order and the flips.
        image_key: str, the image feature.
        label_key: str, the label feature used with `with_labels`.
        builder: a prepared `tfds.core.DatasetBuilder` to read from instead
            of the one `name` makes, for example one made with
            `tfds.builder(...)` and a `download_config`, or a
            `tfds.ImageFolder`. `name` may then be `None`.
        drop_remainder: bool, drop the last batch when it is incomplete.
        repeat: bool, repeat the data set forever (for
            `fit(steps_per_epoch=...)`).
        shuffle_buffer: int, how many examples are shuffled together.

    Returns:
        A `tf.data.Dataset` of float32 images in [0, 1] of shape
        `(batch_size, image_size, image_size, channels)`, or
        `(images, labels)` tuples with int32 labels when `with_labels`. Its
        `class_names` attribute lists the classes when the label feature
        names them (otherwise, or without labels, it is `None`).

    Example:
    ```python
    dataset = keras_rin.data.load_tfds_images("cifar10", batch_size=128)
    model.fit(dataset, epochs=10)
    ```
    """
    if image_size is not None:
        validation.check_positive_int("image_size", image_size)
    _check_batch_size(batch_size)
    validation.check_positive_int("shuffle_buffer", shuffle_buffer)
    validation.check_seed(seed)
    tf = optional_import("tensorflow", "load_tfds_images")
    tfds = optional_import("tensorflow_datasets", "load_tfds_images")
    made_here = builder is None
    if made_here:
        builder = tfds_preparation.tfds_builder(tfds, name, data_dir)
    elif name is None:
        name = builder.name
    features = builder.info.features
    image_shape = _image_shape(features, name, image_key)
    image_size, resize = _output_size(name, image_shape, image_size)
    _check_labels(features, name, label_key, with_labels)
    if made_here and not builder.is_prepared():
        tfds_preparation.prepare(builder, name)
        # Preparing may name the classes (CIFAR-10 reads its names from its
        # archive).
        features = builder.info.features
    class_names = _check_labels(features, name, label_key, with_labels)
    _check_split(builder, name, split)

    image_feature = features[image_key]
    # Image features are read encoded (smaller in the shuffle buffer) and
    # decoded afterwards.
    decode = isinstance(image_feature, tfds.features.Image)
    dataset = _read_tfds(tfds, builder, split, image_key, shuffle, decode, seed)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        dataset = dataset.repeat()
    resizer = _resizer(image_size) if resize else None
    output_shape = (image_size, image_size, image_shape[-1])

    def to_example(example):
        image = example[image_key]
        if decode:
            image = image_feature.decode_example(image)
        image = tf.ensure_shape(_square_image(image, resizer), output_shape)
        if with_labels:
            return image, tf.cast(example[label_key], "int32")
        return image

    dataset = dataset.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = _batch_flip_prefetch(
        dataset, batch_size, drop_remainder, random_flip, seed
    )
    dataset.class_names = class_names
    return dataset


def load_image_folder(
    directory,
    image_size,
    batch_size=64,
    shuffle=True,
    random_flip=True,
    with_labels=True,
    seed=0,
    drop_remainder=True,
    repeat=False,
):
    """Images from a folder of image files, as a `tf.data` pipeline for
    `fit`.

    For images you bring yourself, laid out as
    `<directory>/<class>/<image>.jpg` (with `with_labels`: a label is the
    index of its class folder among the sorted class names, and images
    directly in `directory` are ignored) or, with `with_labels=False`, as
    any tree of images under `directory`. Files ending with one of
    `keras_rin.data.image_datasets.IMAGE_EXTENSIONS` are read with
    `keras.utils.image_dataset_from_directory`: decoded as RGB (3 channels),
    cropped to their central square and resized to `image_size` (area
    interpolation, which is antialiased when shrinking). They are then
    scaled to [0, 1] and flipped left-right at random with
    `keras.layers.RandomFlip`, so the data set feeds `fit` on JAX,
    TensorFlow and PyTorch alike.

    With `shuffle`, the files are listed in a random order, read in a
    buffer of 1024 that reshuffles every epoch. The order and the flips
    are deterministic for a given `seed`.

    Args:
        directory: str, the folder to read.
        image_size: int, the height and width of the output images.
        batch_size: int or `None`, the batch size; `None` for single
            images.
        shuffle: bool, read the images in a random order.
        random_flip: bool, flip images left-right with probability 1/2.
        with_labels: bool, also return labels from the class folders.
        seed: int or `None`, the seed of the order and the flips.
        drop_remainder: bool, drop the last batch when it is incomplete.
        repeat: bool, repeat the data set forever (for
            `fit(steps_per_epoch=...)`).

    Returns:
        A `tf.data.Dataset` of float32 RGB images in [0, 1] of shape
        `(batch_size, image_size, image_size, 3)`, or `(images, labels)`
        tuples with int32 labels when `with_labels`. Its `class_names`
        attribute lists the classes (`None` without labels), and
        `file_paths` the images found.

    Example:
    ```python
    images = keras_rin.data.load_image_folder(
        "flowers/train", image_size=64, batch_size=32
    )
    print(images.class_names)
    ```
    """
    validation.check_positive_int("image_size", image_size)
    _check_batch_size(batch_size)
    validation.check_seed(seed)
    tf = optional_import("tensorflow", "load_image_folder")
    dataset = _read_folder(directory, image_size, shuffle, with_labels, seed)
    file_paths = dataset.file_paths
    class_names = dataset.class_names if with_labels else None
    if repeat:
        dataset = dataset.repeat()
    rescale = keras.layers.Rescaling(1 / 255, dtype="float32")

    def to_unit_range(image, *label):
        image = tf.clip_by_value(rescale(image), 0.0, 1.0)
        return (image, *label) if label else image

    dataset = dataset.map(to_unit_range, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = _batch_flip_prefetch(
        dataset, batch_size, drop_remainder, random_flip, seed
    )
    dataset.class_names = class_names
    dataset.file_paths = file_paths
    return dataset


def _read_folder(directory, image_size, shuffle, with_labels, seed):
    """`image_dataset_from_directory`'s unbatched images in [0, 255]."""
    if not os.path.isdir(directory):
        raise ValueError(
            "`directory` must be an existing folder of images. "
            f"Received: directory={directory!r}"
        )
    try:
        return keras.utils.image_dataset_from_directory(
            directory,
            labels="inferred" if with_labels else None,
            batch_size=None,
            image_size=(image_size, image_size),
            shuffle=shuffle,
            seed=seed,
            interpolation="area",
            crop_to_aspect_ratio=True,
            data_format="channels_last",
            verbose=False,
        )
    except ValueError as error:
        if "No images found" not in str(error):
            raise
        where = " in class folders (<directory>/<class>/<image>)"
        hint = " (for a flat folder, pass `with_labels=False`)"
        raise ValueError(
            f"`directory` has no images{where if with_labels else ''}: "
            f"files ending with {IMAGE_EXTENSIONS}"
            f"{hint if with_labels else ''}. Received: directory={directory!r}"
        ) from error


def _square_image(image, resizer):
    """An image `(H, W, C)` as float32 in [0, 1], cropped to its central
    square and resized by the `keras.layers.Resizing` `resizer` (`None`
    leaves it as it is)."""
    import tensorflow as tf

    image = tf.image.convert_image_dtype(image, "float32")
    if resizer is None:
        return image
    return tf.clip_by_value(resizer(image), 0.0, 1.0)


def _resizer(image_size):
    return keras.layers.Resizing(
        image_size,
        image_size,
        interpolation="bicubic",
        antialias=True,
        crop_to_aspect_ratio=True,
        data_format="channels_last",
        dtype="float32",
    )


def _batch_flip_prefetch(dataset, batch_size, drop_remainder, flip, seed):
    """Batches, flips the images (the first part of each element) and
    prefetches."""
    import tensorflow as tf

    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if flip:
        layer = keras.layers.RandomFlip(
            "horizontal",
            seed=seed,
            data_format="channels_last",
            dtype="float32",
        )

        def flip_images(images, *labels):
            images = layer(images, training=True)
            return (images, *labels) if labels else images

        # Not in parallel, so that the seeded flips come in a fixed order.
        dataset = dataset.map(flip_images)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _read_tfds(tfds, builder, split, image_key, shuffle, skip_decoding, seed):
    decoders = None
    if skip_decoding:
        decoders = {image_key: tfds.decode.SkipDecoding()}
    return builder.as_dataset(
        split=split,
        shuffle_files=shuffle,
        decoders=decoders,
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )


def _image_shape(features, name, image_key):
    if image_key not in features or len(features[image_key].shape) != 3:
        raise ValueError(
            f"`image_key` must be an image feature of {name!r}, one of "
            f"{sorted(features.keys())}. Received: image_key={image_key!r}"
        )
    return tuple(features[image_key].shape)


def _output_size(name, image_shape, image_size):
    """The output size and whether images must be cropped and resized."""
    height, width = image_shape[:2]
    if image_size is not None:
        return image_size, (height, width) != (image_size, image_size)
    if height is None or width is None or height != width:
        raise ValueError(
            f"`image_size` is needed: the images of {name!r} are not "
            f"squares of a fixed size (their shape is {image_shape}), so "
            "they are cropped to their central square and resized to "
            "`image_size`. Received: image_size=None"
        )
    return height, False


def _check_labels(features, name, label_key, with_labels):
    """Checks the label feature; returns its class names, if any."""
    if not with_labels:
        return None
    feature = features[label_key] if label_key in features else None
    if (
        feature is None
        or tuple(feature.shape) != ()
        or not np.issubdtype(feature.np_dtype, np.integer)
    ):
        labels = [
            key
            for key in sorted(features.keys())
            if tuple(features[key].shape) == ()
            and np.issubdtype(features[key].np_dtype, np.integer)
        ]
        raise ValueError(
            f"`with_labels=True` needs `label_key` to be an integer feature "
            f"of {name!r}, one of {labels} (or pass `with_labels=False`). "
            f"Received: label_key={label_key!r}"
        )
    return getattr(feature, "names", None)


def _check_split(builder, name, split):
    """Checks the split names against the prepared splits, when known."""
    known = sorted(builder.info.splits)
    if not known or not isinstance(split, str):
        return
    for part in split.split("+"):
        if part.split("[")[0].strip() not in (*known, "all"):
            raise ValueError(
                f"`split` must name splits of {name!r}, one of {known}, "
                "optionally sliced as in 'train[:90%]'. "
                f"Received: split={split!r}"
            )


def _check_batch_size(batch_size):
    if batch_size is not None:
        validation.check_positive_int("batch_size", batch_size)
