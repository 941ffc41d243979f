import os
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_rin.data import load_tfds_videos  # noqa: E402
from keras_rin.data import load_video_folder  # noqa: E402
from keras_rin.data import video_datasets  # noqa: E402

# Frame `i` of the test videos is a flat grey of level `10 + 20 * i`.
_LEVEL_STEP = 20


@pytest.fixture
def tfds():
    tfds = pytest.importorskip("tensorflow_datasets")
    # Random examples with the features of the real data sets, offline.
    with tfds.testing.mock_data(num_examples=4):
        yield tfds


def _raw_videos(tfds, name, split, key):
    dataset = tfds.load(name, split=split, shuffle_files=False)
    return [example[key] for example in tfds.as_numpy(dataset)]


def test_clips_take_every_stride_th_frame_from_the_start(tfds):
    dataset = load_tfds_videos(
        "moving_mnist", "test", num_frames=5, frame_stride=3, shuffle=False
    )
    assert dataset.element_spec.shape == (5, 64, 64, 1)
    assert dataset.element_spec.dtype == tf.float32
    clips = list(tfds.as_numpy(dataset))
    raw = _raw_videos(tfds, "moving_mnist", "test", "image_sequence")
    assert len(clips) == len(raw) == 4
    for clip, video in zip(clips, raw, strict=True):
        # Same size: the resize leaves the frames alone.
        np.testing.assert_allclose(clip, video[0:13:3] / 255, atol=1e-6)
        assert 0 <= clip.min() and clip.max() <= 1


def test_random_starts_are_seeded_and_change_each_epoch(tfds):
    raw = _raw_videos(tfds, "moving_mnist", "test", "image_sequence")

    def starts(dataset):
        found = []
        for clip, video in zip(tfds.as_numpy(dataset), raw, strict=True):
            (start,) = [
                start
                for start in range(20 - 9 + 1)
                if np.allclose(clip, video[start : start + 9 : 2] / 255)
            ]
            found.append(start)
        return found

    def load(seed):
        return load_tfds_videos(
            "moving_mnist",
            "test",
            num_frames=5,
            frame_stride=2,
            shuffle=False,
            random_start=True,
            seed=seed,
        )

    dataset = load(seed=1)
    first_epoch = starts(dataset)
    assert starts(load(seed=1)) == first_epoch
    assert starts(dataset) != first_epoch
    assert starts(load(seed=2)) != first_epoch


def test_labels_batches_and_resizing(tfds):
    dataset = load_tfds_videos(
        "ucf101",
        num_frames=4,
        frame_size=32,
        frame_stride=2,
        batch_size=3,
        shuffle=False,
        with_labels=True,
    )
    batches = list(tfds.as_numpy(dataset))
    # Four videos make one full batch; the remainder is dropped.
    assert len(batches) == 1
    clips, labels = batches[0]
    assert clips.shape == (3, 4, 32, 32, 3) and clips.dtype == "float32"
    assert 0 <= clips.min() and clips.max() <= 1
    raw = _raw_videos(tfds, "ucf101", "train", "label")
    assert labels.dtype == "int32"
    np.testing.assert_array_equal(labels, raw[:3])


def test_shuffled_clips_are_seeded(tfds):
    def first_batch(seed):
        dataset = load_tfds_videos(
            "ucf101", num_frames=3, frame_size=8, batch_size=4, seed=seed
        )
        return next(iter(tfds.as_numpy(dataset)))

    np.testing.assert_array_equal(first_batch(0), first_batch(0))


def test_videos_shorter_than_a_clip_are_skipped(tfds):
    lengths = [len(v) for v in _raw_videos(tfds, "ucf101", "train", "video")]
    span = sorted(lengths)[1]
    dataset = load_tfds_videos(
        "ucf101", num_frames=span, frame_size=8, shuffle=False
    )
    assert len(list(dataset)) == sum(length >= span for length in lengths)


def test_builder_and_video_key(tfds):
    dataset = load_tfds_videos(
        "my_videos",
        "test",
        num_frames=2,
        frame_size=16,
        shuffle=False,
        video_key="image_sequence",
        builder=tfds.builder("moving_mnist"),
    )
    assert dataset.element_spec.shape == (2, 16, 16, 1)
    assert len(list(dataset)) == 4


def test_tfds_errors(tfds):
    with pytest.raises(ValueError, match="video_key.*moving_mnist"):
        load_tfds_videos("kinetics600")
    with pytest.raises(ValueError, match="video_key"):
        load_tfds_videos("moving_mnist", "test", video_key="frames")
    with pytest.raises(ValueError, match="label_key"):
        load_tfds_videos("moving_mnist", "test", with_labels=True)
    # Moving MNIST videos have 20 frames.
    with pytest.raises(ValueError, match="frame_stride=2"):
        load_tfds_videos("moving_mnist", "test", num_frames=11, frame_stride=2)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"frame_size": 1.5}, "frame_size"),
        ({"frame_stride": 0}, "frame_stride"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_clip_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        load_tfds_videos("moving_mnist", **kwargs)
    with pytest.raises(ValueError, match=name):
        load_video_folder("unused", **kwargs)


def test_frames_are_cropped_to_the_central_square():
    # Grey in the central 4x4 square, white on the sides.
    frames = np.full((2, 4, 8, 3), 255, "uint8")
    frames[:, :, 2:6] = 100
    clip = video_datasets._resize_frames(tf.constant(frames), 2)
    assert clip.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(clip, 100 / 255, atol=1e-6)


def _write_video(path, num_frames, height=24, width=32):
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for index in range(num_frames):
            level = 10 + _LEVEL_STEP * index
            image = np.full((height, width, 3), level, "uint8")
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _write_gif(path, num_frames, height=24, width=24):
    from PIL import Image

    images = [
        Image.fromarray(np.full((height, width, 3), level, "uint8"))
        for level in 10 + _LEVEL_STEP * np.arange(num_frames)
    ]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100)


@pytest.fixture
def video_folder(tmp_path):
    """`birds/a.gif`, `cats/b.mp4` and `dogs/c.mp4` (non-square), each of 10
    frames."""
    for name in ("birds", "cats", "dogs"):
        os.mkdir(tmp_path / name)
    _write_gif(tmp_path / "birds" / "a.gif", 10)
    _write_video(tmp_path / "cats" / "b.mp4", 10)
    _write_video(tmp_path / "dogs" / "c.MP4", 10, height=32, width=24)
    return tmp_path


def _frame_indices(clip):
    """The frame index each frame of a decoded test clip shows."""
    levels = clip.mean(axis=(1, 2, 3)) * 255
    indices = np.round((levels - 10) / _LEVEL_STEP)
    np.testing.assert_allclose(levels, 10 + _LEVEL_STEP * indices, atol=4)
    return indices.astype(int).tolist()


def test_folder_clips_labels_and_class_names(video_folder):
    dataset = load_video_folder(
        video_folder,
        num_frames=4,
        frame_size=8,
        frame_stride=2,
        shuffle=False,
        with_labels=True,
    )
    assert dataset.class_names == ["birds", "cats", "dogs"]
    assert [os.path.basename(path) for path in dataset.file_paths] == [
        "a.gif",
        "b.mp4",
        "c.MP4",
    ]
    examples = list(dataset.as_numpy_iterator())
    assert [label for _, label in examples] == [0, 1, 2]
    for clip, _ in examples:
        assert clip.shape == (4, 8, 8, 3) and clip.dtype == "float32"
        assert _frame_indices(clip) == [0, 2, 4, 6]


def test_folder_random_starts_order_and_batches(video_folder):
    def load(**kwargs):
        return load_video_folder(
            video_folder, num_frames=3, frame_size=8, frame_stride=3, **kwargs
        )

    dataset = load(seed=0)
    assert dataset.class_names is None
    clips = list(dataset.as_numpy_iterator())
    assert len(clips) == 3
    for clip in clips:
        start = _frame_indices(clip)[0]
        assert _frame_indices(clip) == [start, start + 3, start + 6]
        assert 0 <= start <= 3
    again = list(load(seed=0).as_numpy_iterator())
    np.testing.assert_array_equal(again, clips)
    # The next epoch reads other clips, or in another order.
    assert not np.array_equal(list(dataset.as_numpy_iterator()), clips)
    (batch,) = list(load(seed=0, batch_size=2).as_numpy_iterator())
    assert batch.shape == (2, 3, 8, 8, 3)


def test_folder_skips_bad_videos_with_a_warning(video_folder):
    (video_folder / "cats" / "broken.mp4").write_bytes(b"not a video" * 50)
    _write_video(video_folder / "cats" / "short.mp4", 3)
    dataset = load_video_folder(video_folder, num_frames=4, frame_size=8)
    with pytest.warns(UserWarning) as records:
        clips = list(dataset.as_numpy_iterator())
    assert len(clips) == 3
    messages = " ".join(str(record.message) for record in records)
    assert "broken.mp4" in messages and "could not be decoded" in messages
    assert "short.mp4" in messages and "fewer than 4 frames" in messages


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        load_video_folder(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("no videos here")
    with pytest.raises(ValueError, match="directory"):
        load_video_folder(tmp_path)
    with pytest.raises(ValueError, match="extensions"):
        load_video_folder(tmp_path, extensions=())
    _write_gif(tmp_path / "loose.gif", 4)
    with pytest.raises(ValueError, match="with_labels"):
        load_video_folder(tmp_path, with_labels=True)


def test_folder_without_pyav_says_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "clip.mp4").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match="pip install av"):
        load_video_folder(tmp_path)
