import numpy as np
import pytest

from keras_rin.data import bouncing_shapes_splits
from keras_rin.data import make_bouncing_shapes


def _background(clips):
    """The background colour of each clip: the median pixel."""
    return np.median(clips.reshape(len(clips), -1, 3), axis=1)


def _shape_weight(clips):
    """How far each pixel is from its clip's background, `(n, T, H, W)`:
    proportional to how much of the pixel the shape covers."""
    clips = clips.astype("float64")
    difference = clips - _background(clips)[:, None, None, None, :]
    return np.linalg.norm(difference, axis=-1)


def _centroids(clips):
    """The `(x, y)` centroid, in pixels, of the shape of one-shape clips,
    `(n, T, 2)`."""
    weight = _shape_weight(clips)
    size = clips.shape[2]
    rows, columns = np.mgrid[0:size, 0:size] + 0.5
    total = weight.sum(axis=(2, 3))
    x = (weight * columns).sum(axis=(2, 3)) / total
    y = (weight * rows).sum(axis=(2, 3)) / total
    return np.stack([x, y], axis=-1)


def test_shape_dtype_and_defaults():
    clips = make_bouncing_shapes(3)
    assert clips.shape == (3, 8, 16, 16, 3)
    assert clips.dtype == "uint8"
    clips = make_bouncing_shapes(2, num_frames=5, image_size=12)
    assert clips.shape == (2, 5, 12, 12, 3)


def test_equal_seeds_give_equal_clips_and_other_seeds_differ():
    clips = make_bouncing_shapes(20, seed=7)
    np.testing.assert_array_equal(clips, make_bouncing_shapes(20, seed=7))
    # A clip does not depend on how many follow it.
    np.testing.assert_array_equal(clips[:5], make_bouncing_shapes(5, seed=7))
    other = make_bouncing_shapes(20, seed=8)
    for clip, other_clip in zip(clips, other, strict=True):
        assert not np.array_equal(clip, other_clip)


def test_splits_are_disjoint_and_deterministic():
    train, test = bouncing_shapes_splits(64, 32, num_frames=4)
    assert train.shape == (64, 4, 16, 16, 3)
    assert test.shape == (32, 4, 16, 16, 3)
    train_clips = {clip.tobytes() for clip in train}
    assert len(train_clips) == 64
    assert not train_clips & {clip.tobytes() for clip in test}
    # Neither split depends on the other's size, nor equals the plain
    # stream of the same seed.
    again, _ = bouncing_shapes_splits(64, 5, num_frames=4)
    np.testing.assert_array_equal(again, train)
    plain = make_bouncing_shapes(64, num_frames=4, seed=0)
    assert not train_clips & {clip.tobytes() for clip in plain}
    _, other_test = bouncing_shapes_splits(3, 32, num_frames=4, seed=1)
    assert not np.array_equal(other_test, test)


def test_shapes_move_stay_in_frame_and_stand_out():
    clips = make_bouncing_shapes(100, num_shapes=1, seed=1)
    # Every frame differs from the previous one.
    steps = np.abs(np.diff(clips.astype("int32"), axis=1)).max(axis=(2, 3, 4))
    assert steps.min() > 0
    # The shape is never cut by the frame: it keeps its area.
    weight = _shape_weight(clips)
    area = weight.sum(axis=(2, 3))
    np.testing.assert_allclose(area / area.mean(axis=1, keepdims=True), 1, 0.03)
    # Shapes are much brighter than the muted background.
    assert weight.max(axis=(1, 2, 3)).min() > 76
    # Two shapes cover more than one.
    two = make_bouncing_shapes(100, num_shapes=2, seed=1)
    assert _shape_weight(two).sum() > 1.5 * weight.sum()


def test_constant_velocity_between_bounces():
    image_size = 16
    clips = make_bouncing_shapes(200, num_shapes=1, image_size=image_size)
    steps = np.diff(_centroids(clips), axis=1)
    # A box-filtered shape's centroid on the pixel grid is off by up to
    # 1/8 px^2 / its width, under 0.04 px here.
    tolerance = 0.15
    for step in steps:
        speed = np.abs(step).max(axis=0)
        # At most one bounce per axis in 8 frames: every other step moves
        # the same distance along the axis, ...
        bounces = np.abs(np.abs(step) - speed) > tolerance
        assert bounces.sum(axis=0).max() <= 1
        # ... in a direction that reverses at most once.
        for axis in range(2):
            if speed[axis] > 2 * tolerance:
                signs = np.sign(step[~bounces[:, axis], axis])
                assert np.count_nonzero(np.diff(signs)) <= 1
        speed = np.hypot(*speed) / image_size
        assert 0.06 - 0.01 < speed < 0.1 + 0.01


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_clips": 0}, "num_clips"),
        ({"num_clips": 2.0}, "num_clips"),
        ({"num_frames": 1}, "num_frames"),
        ({"image_size": 7}, "image_size"),
        ({"num_shapes": 0}, "num_shapes"),
        ({"num_shapes": (2, 1)}, "num_shapes"),
        ({"num_shapes": (1, 2, 3)}, "num_shapes"),
        ({"seed": -1}, "seed"),
        ({"seed": "0"}, "seed"),
    ],
)
def test_bad_arguments(kwargs, name):
    kwargs = {"num_clips": 2, **kwargs}
    with pytest.raises(ValueError, match=name):
        make_bouncing_shapes(**kwargs)


def test_bad_split_arguments():
    with pytest.raises(ValueError, match="num_test"):
        bouncing_shapes_splits(4, 0)
    with pytest.raises(ValueError, match="num_clips"):
        bouncing_shapes_splits(4, 4, num_clips=3)
