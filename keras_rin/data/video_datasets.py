import collections
import contextlib
import os
import warnings

import numpy as np

from keras_rin.data import tfds_preparation
from keras_rin.utils import validation
from keras_rin.utils.imports import optional_import

# The video feature of the video data sets in the TFDS catalogue. Other data
# sets (for example a Kinetics-600 builder of your own) need `video_key`.
VIDEO_KEYS = {
    "ucf101": "video",
    "bair_robot_pushing_small": "image_main",
    "moving_mnist": "image_sequence",
}
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
# Clips (not whole videos) are shuffled in a buffer of this many, on top of
# the shuffling of the data set's files.
_SHUFFLE_BUFFER = 64


def load_tfds_videos(
    name,
    split="train",
    num_frames=16,
    frame_size=64,
    frame_stride=1,
    batch_size=None,
    shuffle=True,
    random_start=None,
    with_labels=False,
    data_dir=None,
    seed=None,
    video_key=None,
    label_key="label",
    builder=None,
):
    """Clips from a TensorFlow Datasets video data set, as a `tf.data`
    pipeline.

    Each video gives one clip of `num_frames` frames, taken every
    `frame_stride` frames, starting at a random frame (`random_start=True`)
    or at the first one. Frames are cropped to their central square and
    resized to `frame_size` (bilinear, antialiased). Videos shorter than a
    clip (`(num_frames - 1) * frame_stride + 1` frames) are skipped
    silently; if every video is too short the data set is empty. When the
    data set's videos all have the same known length and it is too short,
    a `ValueError` is raised instead.

    Random starts are deterministic for a given `seed` and differ from
    epoch to epoch. With `shuffle`, the files are read in a shuffled order
    (seeded by `seed`) and clips are shuffled in a buffer of 64.

    Needs `tensorflow` and `tensorflow-datasets`
    (`pip install "keras-rin[data]"`). The data set is downloaded and
    prepared by TFDS on first use, into `data_dir`; when that cannot be
    done, a `keras_rin.data.DataUnavailableError` says what is missing and
    where it goes, as for `load_tfds_images`.

    Args:
        name: TFDS name, optionally with a config and version, for example
            `"ucf101"`, `"bair_robot_pushing_small"`, `"moving_mnist"`
            (which only has a `"test"` split) or `"ucf101/ucf101_1_256"`.
        split: TFDS split, for example `"train"` or `"train[:90%]"`.
        num_frames: int, frames per clip.
        frame_size: int, the height and width of the output frames.
        frame_stride: int, take every `frame_stride`-th frame.
        batch_size: int or `None`. When given, clips are batched, dropping
            the last incomplete batch.
        shuffle: bool, shuffle the files and the clips.
        random_start: bool or `None`, start clips at a random frame rather
            than at the first one. Defaults to `shuffle`.
        with_labels: bool, also return the integer `label_key` feature.
        data_dir: str or `None`, where TFDS keeps its data.
        seed: int or `None`, the seed of the shuffling and the random
            starts.
        video_key: str or `None`, the video feature. Needed for data sets
            other than those in `keras_rin.data.video_datasets.VIDEO_KEYS`.
        label_key: str, the label feature used with `with_labels`.
        builder: a prepared `tfds.core.DatasetBuilder` to read from instead
            of the one `tfds.builder(name, ...)` makes, for example one
            made with a `download_config` for a data set with manual
            downloads. `name` still selects the known video key.

    Returns:
        A `tf.data.Dataset` of float32 clips in [0, 1] of shape
        `(num_frames, frame_size, frame_size, channels)` (batched:
        `(batch_size, num_frames, ...)`), or `(clip, label)` tuples with
        int32 labels when `with_labels`.

    Example:
    ```python
    clips = keras_rin.data.load_tfds_videos(
        "bair_robot_pushing_small", num_frames=16, batch_size=32, seed=0
    )
    ```
    """
    span = _check_clip_args(num_frames, frame_size, frame_stride, batch_size)
    validation.check_seed(seed)
    if name is None and builder is not None:
        name = builder.name
    video_key = _video_key(name, video_key)
    tf = optional_import("tensorflow", "load_tfds_videos")
    tfds = optional_import("tensorflow_datasets", "load_tfds_videos")
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    if builder is None:
        builder = tfds_preparation.tfds_builder(tfds, name, data_dir)
        if not builder.is_prepared():
            tfds_preparation.prepare(builder, name)
    dataset = builder.as_dataset(
        split=split, shuffle_files=shuffle, read_config=read_config
    )
    _check_features(
        dataset.element_spec,
        name,
        video_key,
        label_key,
        with_labels,
        clip=(num_frames, frame_stride),
    )
    channels = dataset.element_spec[video_key].shape[-1]
    clip_shape = (num_frames, frame_size, frame_size, channels)

    def to_clip(example, random_value=None):
        frames = _sample_clip_frames(
            example[video_key], span, frame_stride, random_value
        )
        clip = tf.ensure_shape(_resize_frames(frames, frame_size), clip_shape)
        if with_labels:
            return clip, tf.cast(example[label_key], "int32")
        return clip

    dataset = dataset.filter(lambda ex: tf.shape(ex[video_key])[0] >= span)
    if random_start is None:
        random_start = shuffle
    if random_start:
        randoms = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        )
        dataset = tf.data.Dataset.zip((dataset, randoms))
    dataset = dataset.map(to_clip, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        dataset = dataset.shuffle(_SHUFFLE_BUFFER, seed=seed)
    return _batch_and_prefetch(dataset, batch_size)


def load_video_folder(
    directory,
    num_frames=16,
    frame_size=64,
    frame_stride=1,
    batch_size=None,
    shuffle=True,
    seed=None,
    extensions=VIDEO_EXTENSIONS,
    with_labels=False,
    random_start=None,
):
    """Clips from a folder of video files, as a `tf.data` pipeline.

    For videos you bring yourself, such as Kinetics-600 or the original
    UCF-101 release, laid out as `<directory>/<class>/<video>.mp4`. The
    files whose names end with one of `extensions` are found recursively
    and sorted. With `with_labels`, a video's label is the index, among the
    sorted class names, of the first sub-directory of `directory` on its
    path (its parent folder in the layout above); the class names are the
    data set's `class_names` attribute (`None` without labels).

    Each video gives one clip of `num_frames` frames, taken every
    `frame_stride` frames, starting at a random frame (`random_start=True`;
    every start is equally likely) or at the first one, then cropped to
    the central square and resized to `frame_size` like `load_tfds_videos`
    does. Frames are decoded as RGB with PyAV (`pip install av`), GIFs with
    Pillow. Videos that cannot be decoded, or are shorter than a clip
    (`(num_frames - 1) * frame_stride + 1` frames), are skipped with a
    warning, so that one bad file does not stop a long run.

    With `shuffle`, the videos are read in a new order every epoch. The
    order and the random starts are deterministic for a given `seed`.
    Videos are decoded one at a time in Python; for long trainings, cache
    the clips (`dataset.cache(path)`) or convert them to TFRecords once.

    Args:
        directory: str, the folder to read.
        num_frames: int, frames per clip.
        frame_size: int, the height and width of the output frames.
        frame_stride: int, take every `frame_stride`-th frame.
        batch_size: int or `None`. When given, clips are batched, dropping
            the last incomplete batch.
        shuffle: bool, read the videos in a random order.
        seed: int or `None`, the seed of the order and the random starts.
        extensions: tuple of str, the (case-insensitive) file name endings
            of the videos to read.
        with_labels: bool, also return labels from the sub-directories.
        random_start: bool or `None`, start clips at a random frame rather
            than at the first one. Defaults to `shuffle`.

    Returns:
        A `tf.data.Dataset` of float32 RGB clips in [0, 1] of shape
        `(num_frames, frame_size, frame_size, 3)` (batched:
        `(batch_size, num_frames, ...)`), or `(clip, label)` tuples with
        int32 labels when `with_labels`. Its `class_names` attribute lists
        the classes, and `file_paths` the videos found.

    Example:
    ```python
    clips = keras_rin.data.load_video_folder(
        "kinetics600/train", num_frames=16, batch_size=32, with_labels=True
    )
    print(clips.class_names[:3])
    ```
    """
    span = _check_clip_args(num_frames, frame_size, frame_stride, batch_size)
    validation.check_seed(seed)
    paths = _list_videos(directory, extensions)
    if with_labels:
        class_names, labels = _folder_labels(directory, paths)
    else:
        class_names, labels = None, [0] * len(paths)
    if any(not path.lower().endswith(".gif") for path in paths):
        optional_import("av", "load_video_folder")
    tf = optional_import("tensorflow", "load_video_folder")
    if random_start is None:
        random_start = shuffle
    generator = _clip_generator(
        paths, labels, span, frame_stride, shuffle, random_start, seed
    )
    dataset = tf.data.Dataset.from_generator(
        generator,
        output_signature=(
            tf.TensorSpec((num_frames, None, None, 3), tf.uint8),
            tf.TensorSpec((), tf.int32),
        ),
    )

    def to_clip(frames, label):
        clip = _resize_frames(frames, frame_size)
        clip = tf.ensure_shape(clip, (num_frames, frame_size, frame_size, 3))
        return (clip, label) if with_labels else clip

    dataset = dataset.map(to_clip, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = _batch_and_prefetch(dataset, batch_size)
    dataset.class_names = class_names
    dataset.file_paths = paths
    return dataset


def _sample_clip_frames(video, span, frame_stride, random_value=None):
    """Every `frame_stride`-th frame of a `span`-frame window of a video
    tensor, starting at frame 0, or at `random_value` (an int64 tensor)
    modulo the number of possible starts."""
    import tensorflow as tf

    start = 0
    if random_value is not None:
        num_starts = tf.cast(tf.shape(video)[0] - span + 1, "int64")
        start = tf.cast(tf.math.floormod(random_value, num_starts), "int32")
    return video[start : start + span : frame_stride]


def _resize_frames(frames, frame_size):
    """Crops uint8 frames `(T, H, W, C)` to their central square and
    resizes them to float32 `(T, frame_size, frame_size, C)` in [0, 1]."""
    import tensorflow as tf

    height, width = tf.shape(frames)[1], tf.shape(frames)[2]
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    frames = frames[:, top : top + side, left : left + side]
    frames = tf.cast(frames, "float32") / 255.0
    frames = tf.image.resize(
        frames, (frame_size, frame_size), method="bilinear", antialias=True
    )
    return tf.clip_by_value(frames, 0.0, 1.0)


def _batch_and_prefetch(dataset, batch_size):
    import tensorflow as tf

    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _clip_generator(paths, labels, span, stride, shuffle, random_start, seed):
    """A generator function for `from_generator`: every call (epoch) reads
    the videos in a new order and yields `(frames, label)`."""
    seeds = np.random.SeedSequence(seed)

    def generate():
        rng = np.random.default_rng(seeds.spawn(1)[0])
        order = rng.permutation(len(paths)) if shuffle else range(len(paths))
        num_clips = 0
        for index in order:
            frames = _read_clip(
                paths[index], span, stride, rng if random_start else None
            )
            if frames is not None:
                num_clips += 1
                yield frames, np.int32(labels[index])
        if num_clips == 0:
            warnings.warn(
                f"No video gave a clip of {span} frames, so this epoch is "
                "empty.",
                stacklevel=2,
            )

    return generate


def _read_clip(path, span, stride, rng):
    """A clip `(T, H, W, 3)` uint8 from a video file, or `None` (with a
    warning) when the file cannot be decoded or is too short."""
    try:
        with contextlib.closing(_decode_frames(path)) as frames:
            clip = _sample_stream(frames, span, stride, rng)
        if clip is not None:
            clip = np.stack([_to_array(frame) for frame in clip])
    # Any decoding error skips the file rather than ending a long run.
    except Exception as error:
        warnings.warn(
            f"Skipping {path}: it could not be decoded ({error!r}).",
            stacklevel=2,
        )
        return None
    if clip is None:
        warnings.warn(
            f"Skipping {path}: it has fewer than {span} frames.",
            stacklevel=2,
        )
    return clip


def _sample_stream(frames, span, stride, rng):
    """Every `stride`-th frame of a `span`-frame window of an iterable of
    frames: the first window without `rng`, otherwise a uniformly random
    one (by reservoir sampling, so that only `span` frames are kept
    whatever the video's length). `None` if there are too few frames."""
    window = collections.deque(maxlen=span)
    chosen = None
    num_windows = 0
    for frame in frames:
        window.append(frame)
        if len(window) < span:
            continue
        if rng is None:
            return list(window)[::stride]
        num_windows += 1
        if rng.integers(num_windows) == 0:
            chosen = list(window)[::stride]
    return chosen


def _decode_frames(path):
    """Yields the frames of a video file: PIL-converted RGB arrays for
    GIFs, PyAV frames otherwise (converted by `_to_array` when kept)."""
    if path.lower().endswith(".gif"):
        from PIL import Image
        from PIL import ImageSequence

        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                yield np.asarray(frame.convert("RGB"))
        return
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def _to_array(frame):
    if isinstance(frame, np.ndarray):
        return frame
    return frame.to_ndarray(format="rgb24")


def _list_videos(directory, extensions):
    if isinstance(extensions, str):
        extensions = (extensions,)
    if not extensions or not all(isinstance(e, str) for e in extensions):
        raise ValueError(
            "`extensions` must be a non-empty tuple of file name endings, "
            f"such as ('.mp4', '.avi'). Received: extensions={extensions!r}"
        )
    extensions = tuple(extension.lower() for extension in extensions)
    if not os.path.isdir(directory):
        raise ValueError(
            "`directory` must be an existing folder of videos. "
            f"Received: directory={directory!r}"
        )
    paths = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        paths += [
            os.path.join(root, file)
            for file in sorted(files)
            if file.lower().endswith(extensions)
        ]
    paths.sort()
    if not paths:
        raise ValueError(
            f"`directory` has no videos (files ending with {extensions}). "
            f"Received: directory={directory!r}"
        )
    return paths


def _folder_labels(directory, paths):
    """Class names (sorted) and each video's label, from the first
    sub-directory of `directory` on its path."""
    classes = []
    for path in paths:
        parts = os.path.relpath(path, directory).split(os.sep)
        if len(parts) < 2:
            raise ValueError(
                "With `with_labels=True`, videos must be in class folders "
                f"(<directory>/<class>/<video>), but {path} is not. "
                f"Received: directory={directory!r}"
            )
        classes.append(parts[0])
    class_names = sorted(set(classes))
    index = {name: label for label, name in enumerate(class_names)}
    return class_names, [index[name] for name in classes]


def _video_key(name, video_key):
    if video_key is not None:
        return video_key
    base_name = str(name).split(":")[0].split("/")[0]
    if base_name not in VIDEO_KEYS:
        raise ValueError(
            f"The video feature of {name!r} is not known: pass `video_key`, "
            f"or use one of {sorted(VIDEO_KEYS)}. Received: name={name!r}"
        )
    return VIDEO_KEYS[base_name]


def _check_features(spec, name, video_key, label_key, with_labels, clip):
    num_frames, frame_stride = clip
    span = (num_frames - 1) * frame_stride + 1
    if not isinstance(spec, dict) or video_key not in spec:
        available = sorted(spec) if isinstance(spec, dict) else spec
        raise ValueError(
            f"`video_key` must be a feature of {name!r}, one of "
            f"{available}. Received: video_key={video_key!r}"
        )
    if with_labels and label_key not in spec:
        raise ValueError(
            f"`label_key` must be a feature of {name!r}, one of "
            f"{sorted(spec)}. Received: label_key={label_key!r}"
        )
    length = spec[video_key].shape[0]
    if length is not None and length < span:
        raise ValueError(
            f"The videos of {name!r} have {length} frames, fewer than a "
            f"clip of `num_frames` frames taken every `frame_stride` frames "
            f"spans ({span}). Received: num_frames={num_frames}, "
            f"frame_stride={frame_stride}"
        )


def _check_clip_args(num_frames, frame_size, frame_stride, batch_size):
    """Validates the clip arguments; returns the frames a clip spans."""
    for name, value in (
        ("num_frames", num_frames),
        ("frame_size", frame_size),
        ("frame_stride", frame_stride),
    ):
        validation.check_positive_int(name, value)
    if batch_size is not None:
        validation.check_positive_int("batch_size", batch_size)
    return (num_frames - 1) * frame_stride + 1
