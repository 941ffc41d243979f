import os

import numpy as np
import pytest
from PIL import Image
from PIL import ImageSequence

from keras_rin.visualization import frame_strip
from keras_rin.visualization import save_frame_strip
from keras_rin.visualization import save_video_gif
from keras_rin.visualization import video_frames
from keras_rin.visualization.video import CONTEXT_COLOR
from keras_rin.visualization.video import GROUND_TRUTH_COLOR
from keras_rin.visualization.video import PREDICTED_COLOR
from keras_rin.visualization.video import TIMELINE_HEIGHT


def random_clips(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


def test_gif_has_one_frame_per_time_step(tmp_path):
    # Still clips: PIL would merge identical frames if they stayed equal.
    clips = np.zeros((2, 6, 8, 8, 1), "float32")
    path = os.path.join(tmp_path, "nested", "dir", "rollout.gif")
    returned = save_video_gif(
        path, clips, num_context_frames=2, fps=5, upscale=2
    )
    assert returned == path
    frames = video_frames(clips, num_context_frames=2, upscale=2)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.size == (frames.shape[2], frames.shape[1])
        assert gif.info["loop"] == 0
        assert gif.info["duration"] == 200
        read_back = [
            np.asarray(frame.convert("RGB"))
            for frame in ImageSequence.Iterator(gif)
        ]
    assert len(read_back) == 6
    # Borders keep their exact colours through the GIF palette.
    assert tuple(read_back[0][2, 2]) == CONTEXT_COLOR
    assert tuple(read_back[5][2, 2]) == PREDICTED_COLOR


def test_video_frame_layout():
    clips = random_clips((3, 4, 5, 6, 3))
    frames = video_frames(clips, upscale=2, padding=2, border=1)
    cell_height, cell_width = 5 * 2 + 2, 6 * 2 + 2
    assert frames.dtype == np.uint8
    assert frames.shape == (
        4,
        2 + cell_height + 2 + TIMELINE_HEIGHT + 2,
        2 + 3 * (cell_width + 2),
        3,
    )
    # Clip 1, frame 2, magnified without blending.
    left = 2 + (cell_width + 2) + 1
    expected = (clips[1, 2] * 255).round().astype("uint8")
    expected = expected.repeat(2, axis=0).repeat(2, axis=1)
    np.testing.assert_array_equal(
        frames[2, 3 : 3 + 10, left : left + 12], expected
    )


def test_default_upscale_makes_small_clips_at_least_64_pixels_high():
    clips = random_clips((1, 3, 16, 16, 1))
    strip = frame_strip(clips, padding=0, border=0)
    assert strip.shape == (64, 3 * 64, 3)
    frames = video_frames(random_clips((1, 2, 100, 10, 1)), padding=0)
    assert frames.shape[1] == 100 + 2 + TIMELINE_HEIGHT


def test_frame_strip_dimensions_and_png(tmp_path):
    clips = random_clips((2, 5, 4, 3, 3))
    strip = frame_strip(clips, upscale=3, padding=2, border=1)
    cell_height, cell_width = 4 * 3 + 2, 3 * 3 + 2
    assert strip.dtype == np.uint8
    assert strip.shape == (
        2 + 2 * (cell_height + 2),
        2 + 5 * (cell_width + 2),
        3,
    )
    path = os.path.join(tmp_path, "strips", "rollout.png")
    assert save_frame_strip(path, clips, upscale=3) == path
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(png), strip)


def test_context_and_predicted_borders_differ():
    clips = random_clips((2, 4, 4, 4, 3))
    strip = frame_strip(clips, num_context_frames=1, upscale=1, padding=2)
    cell = 4 + 2
    for row in range(2):
        top = 2 + row * (cell + 2)
        for step in range(4):
            left = 2 + step * (cell + 2)
            expected = CONTEXT_COLOR if step < 1 else PREDICTED_COLOR
            # Top-left corner and the middle of the bottom edge.
            assert tuple(strip[top, left]) == expected
            assert tuple(strip[top + cell - 1, left + 3]) == expected
    assert CONTEXT_COLOR != PREDICTED_COLOR

    frames = video_frames(clips, num_context_frames=3, upscale=1)
    for step in range(4):
        expected = CONTEXT_COLOR if step < 3 else PREDICTED_COLOR
        assert tuple(frames[step, 2, 2]) == expected
        assert tuple(frames[step, 2, 2 + cell + 2]) == expected


def test_grey_scale_clips_become_rgb():
    clips = np.full((1, 2, 3, 3, 1), 0.5, "float32")
    strip = frame_strip(clips, upscale=1, padding=0, border=1)
    assert strip.shape == (5, 10, 3)
    np.testing.assert_array_equal(strip[1:4, 1:4], 128)
    frames = video_frames(clips, upscale=1)
    assert frames.shape[-1] == 3
    np.testing.assert_array_equal(frames[:, 3:6, 3:6], 128)


def test_uint8_clips_are_read_as_0_to_255():
    clips = np.random.default_rng(0).integers(0, 256, (1, 3, 4, 4, 3))
    clips = clips.astype("uint8")
    np.testing.assert_array_equal(
        frame_strip(clips, upscale=1),
        frame_strip(clips.astype("float32") / 255, upscale=1),
    )


def test_ground_truth_adds_a_row_under_each_prediction():
    clips = np.zeros((2, 3, 4, 4, 1), "float32")
    truth = np.ones((2, 3, 4, 4, 1), "float32")
    padding = 2
    alone = frame_strip(clips, upscale=1, padding=padding)
    both = frame_strip(clips, 1, ground_truth=truth, upscale=1)
    assert both.shape[0] - padding == 2 * (alone.shape[0] - padding)
    assert both.shape[1] == alone.shape[1]
    cell = 4 + 2
    # Rows: prediction 0, truth 0, prediction 1, truth 1.
    for row, (colour, value) in enumerate(
        [(None, 0), (GROUND_TRUTH_COLOR, 255)] * 2
    ):
        top = padding + row * (cell + padding)
        for step in range(3):
            left = padding + step * (cell + padding)
            if colour is None:
                expected = CONTEXT_COLOR if step < 1 else PREDICTED_COLOR
            else:
                expected = colour
            assert tuple(both[top, left]) == expected
            assert both[top + 2, left + 2, 0] == value

    alone = video_frames(clips, upscale=1)
    both = video_frames(clips, 1, ground_truth=truth, upscale=1)
    assert both.shape[1] - alone.shape[1] == cell + padding
    assert both.shape[2] == alone.shape[2]
    top = padding + cell + padding
    assert tuple(both[0, top, padding]) == GROUND_TRUTH_COLOR
    np.testing.assert_array_equal(both[:, top + 1 : top + 5, 3:7], 255)


def test_single_4d_clip_is_one_clip():
    clip = random_clips((4, 5, 5, 3))
    np.testing.assert_array_equal(
        frame_strip(clip, 2, upscale=1), frame_strip(clip[None], 2, upscale=1)
    )
    np.testing.assert_array_equal(
        video_frames(clip, 2, ground_truth=clip, upscale=1),
        video_frames(clip[None], 2, ground_truth=clip[None], upscale=1),
    )


GOOD = np.zeros((1, 3, 4, 4, 1), "float32")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(clips=np.zeros((4, 4, 1))), "clips"),
        (dict(clips=np.zeros((1, 1, 3, 4, 4, 1))), "clips"),
        (dict(clips=np.zeros((1, 3, 4, 4, 2))), "clips"),
        (dict(clips=np.zeros((1, 0, 4, 4, 1))), "clips"),
        (dict(clips=np.full((1, 3, 4, 4, 1), np.nan)), "clips"),
        (dict(clips=np.full((1, 3, 4, 4, 1), np.inf)), "clips"),
        (dict(clips=np.full((1, 3, 4, 4, 1), 1.5)), "clips"),
        (dict(clips=np.full((1, 3, 4, 4, 1), -0.1)), "clips"),
        (dict(clips=np.full((1, 3, 4, 4, 1), "a")), "clips"),
        (dict(num_context_frames=4), "num_context_frames"),
        (dict(num_context_frames=-1), "num_context_frames"),
        (dict(num_context_frames=1.0), "num_context_frames"),
        (dict(num_context_frames=True), "num_context_frames"),
        (dict(ground_truth=np.zeros((1, 4, 4, 4, 1))), "ground_truth"),
        (dict(ground_truth=np.zeros((1, 3, 4, 4, 3))), "ground_truth"),
        (dict(ground_truth=np.full((1, 3, 4, 4, 1), 2.0)), "ground_truth"),
        (dict(upscale=0), "upscale"),
        (dict(upscale=1.5), "upscale"),
        (dict(padding=-1), "padding"),
        (dict(border=-1), "border"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, argument):
    kwargs = {"clips": GOOD, **kwargs}
    for render in (video_frames, frame_strip):
        with pytest.raises(ValueError, match=f"`{argument}`"):
            render(**kwargs)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(fps=0), "fps"),
        (dict(fps=float("inf")), "fps"),
        (dict(fps="4"), "fps"),
        (dict(loop=-1), "loop"),
        (dict(num_context_frames=9), "num_context_frames"),
    ],
)
def test_bad_gif_arguments_raise(tmp_path, kwargs, argument):
    path = os.path.join(tmp_path, "bad.gif")
    with pytest.raises(ValueError, match=f"`{argument}`"):
        save_video_gif(path, GOOD, **kwargs)
    assert not os.path.exists(path)
