"""Videos a person can watch: animated GIFs and frame strips of clips.

A video prediction model is given the first `num_context_frames` frames of
each clip and predicts the rest. Every picture here draws a border around
each clip frame that tells the two apart, in a pair of colours from the
Okabe-Ito palette that stays distinct under the common forms of colour
blindness:

- context (given) frames: blue, RGB `CONTEXT_COLOR = (0, 114, 178)`;
- predicted frames: orange, RGB `PREDICTED_COLOR = (230, 159, 0)`;
- ground-truth frames (the optional reference row): grey, RGB
  `GROUND_TRUTH_COLOR = (128, 128, 128)`, context or not, so the reference
  never reads as a prediction (the prediction next to it shows which time
  steps were context).

Padding between cells is white, as in `image_grid`.

Clips are arrays `(num_clips, num_frames, height, width, channels)` with
1 (grey-scale, shown as RGB) or 3 channels, float in [0, 1] or uint8 in
[0, 255]. A single clip `(num_frames, height, width, channels)` counts as
one clip.
"""

import math

import numpy as np

from keras_rin.utils import validation
from keras_rin.utils.files import make_parent_directory

CONTEXT_COLOR = (0, 114, 178)
PREDICTED_COLOR = (230, 159, 0)
GROUND_TRUTH_COLOR = (128, 128, 128)
BACKGROUND_COLOR = (255, 255, 255)
# `upscale=None` magnifies clips until a cell is at least this many pixels
# high.
MIN_CELL_HEIGHT = 64
# Height in pixels of the progress bar under each video frame.
TIMELINE_HEIGHT = 4
# Share of white mixed into the timeline segments not reached yet.
_TIMELINE_TINT = 0.65


def video_frames(
    clips,
    num_context_frames=0,
    ground_truth=None,
    upscale=None,
    padding=2,
    border=1,
):
    """Renders clips as a sequence of RGB frames, one per time step.

    Each frame tiles the clips side by side in one row, each clip in a cell
    with a `border` that is blue for context frames and orange for
    predicted frames. With `ground_truth`, a second row shows the true clip
    under each prediction, with a grey border. Under the cells a progress
    bar `TIMELINE_HEIGHT` pixels high has one segment per time step (blue
    for context, orange for predicted), filled up to the current step and
    pale after it; it also makes every frame differ from the one before, so
    a GIF keeps one frame per time step even when a clip stands still.

    Args:
        clips: array `(num_clips, num_frames, height, width, channels)`,
            float in [0, 1] or uint8 in [0, 255], channels 1 or 3. A single
            clip `(num_frames, height, width, channels)` counts as one clip.
        num_context_frames: int in [0, num_frames], how many leading frames
            of each clip were given to the model.
        ground_truth: optional array of the same shape as `clips`, the true
            clips, shown in a second row.
        upscale: int, nearest-neighbour magnification. By default the
            smallest one that makes a clip at least `MIN_CELL_HEIGHT` (64)
            pixels high, so 16x16 clips are shown 4 times larger.
        padding: int, pixels of white between and around cells.
        border: int, width in pixels of the coloured border around each
            clip (0 draws none).

    Returns:
        uint8 array `(num_frames, frame_height, frame_width, 3)`.

    Example:

    >>> clips = np.random.uniform(size=(3, 8, 16, 16, 1))
    >>> video_frames(clips, num_context_frames=2).shape
    (8, 76, 206, 3)
    """
    padding = validation.check_int("padding", padding, 0)
    border = validation.check_int("border", border, 0)
    clips, ground_truth = _prepare(
        clips, num_context_frames, ground_truth, upscale
    )
    num_clips, num_frames, height, width, _ = clips.shape
    rows = [clips] if ground_truth is None else [clips, ground_truth]
    cell_height = height + 2 * border
    cell_width = width + 2 * border
    grid_height = padding + len(rows) * (cell_height + padding)
    grid_width = padding + num_clips * (cell_width + padding)
    # Every timeline segment needs at least one pixel.
    frame_width = max(grid_width, num_frames + 2 * padding)
    frame_height = grid_height + TIMELINE_HEIGHT + padding
    offset = (frame_width - grid_width) // 2
    frames = np.empty((num_frames, frame_height, frame_width, 3), "uint8")
    frames[...] = BACKGROUND_COLOR
    bounds = np.linspace(padding, frame_width - padding, num_frames + 1)
    bounds = bounds.round().astype(int)
    for step in range(num_frames):
        colours = [_step_colour(step, num_context_frames), GROUND_TRUTH_COLOR]
        for row_index, row in enumerate(rows):
            top = padding + row_index * (cell_height + padding)
            for clip_index in range(num_clips):
                left = offset + padding + clip_index * (cell_width + padding)
                _paste_cell(
                    frames[step],
                    top,
                    left,
                    row[clip_index, step],
                    colours[row_index],
                    border,
                )
        for segment in range(num_frames):
            colour = np.array(_step_colour(segment, num_context_frames))
            if segment > step:
                colour = colour + _TIMELINE_TINT * (255 - colour)
            frames[
                step,
                grid_height : grid_height + TIMELINE_HEIGHT,
                bounds[segment] : bounds[segment + 1],
            ] = np.round(colour)
    return frames


def save_video_gif(
    path,
    clips,
    num_context_frames=0,
    ground_truth=None,
    fps=4,
    loop=0,
    **frame_options,
):
    """Saves clips as an animated GIF (frames from `video_frames`).

    The file holds exactly one frame per time step, each shown for
    `1 / fps` seconds (no extra pause on the last one). Parent directories
    are created.

    Args:
        path: str or path-like, where to write the GIF.
        clips: array `(num_clips, num_frames, height, width, channels)` in
            [0, 1] (or one clip `(num_frames, height, width, channels)`),
            see `video_frames`.
        num_context_frames: int in [0, num_frames], leading frames that were
            given to the model (blue border); the rest are orange.
        ground_truth: optional array of the same shape as `clips`, shown in
            a second row with a grey border.
        fps: positive number, frames per second. GIF stores delays in
            hundredths of a second, so `1 / fps` is rounded to that (and to
            at least 0.01 s).
        loop: int >= 0, how many times the GIF loops; 0 loops forever.
        **frame_options: the layout options of `video_frames`, by keyword:
            `upscale` (int, nearest-neighbour magnification; by default
            clips are enlarged to at least 64 pixels high), `padding` (int,
            pixels of white between and around cells) and `border` (int,
            width in pixels of the coloured border).

    Returns:
        `path`.

    Example:

    >>> clips = np.random.uniform(size=(2, 8, 16, 16, 3))
    >>> save_video_gif("/tmp/rollout.gif", clips, num_context_frames=2)
    '/tmp/rollout.gif'
    """
    from PIL import Image

    fps = validation.check_positive_number("fps", fps)
    loop = validation.check_int("loop", loop, 0)
    frames = video_frames(
        clips, num_context_frames, ground_truth, **frame_options
    )
    images = [Image.fromarray(frame, "RGB") for frame in frames]
    make_parent_directory(path)
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=10 * max(1, round(100 / fps)),
        loop=loop,
        # Whole frames that replace each other, not deltas, with every
        # palette colour kept.
        disposal=2,
        optimize=False,
    )
    return path


def frame_strip(
    clips,
    num_context_frames=0,
    ground_truth=None,
    upscale=None,
    padding=2,
    border=1,
):
    """Lays clips out as one image: a row per clip, a column per frame.

    Each frame sits in a cell with a `border` that is blue for context
    frames and orange for predicted frames. With `ground_truth`, each
    prediction row is followed by its ground-truth row, with a grey border.

    Args:
        clips: array `(num_clips, num_frames, height, width, channels)`,
            float in [0, 1] or uint8 in [0, 255], channels 1 or 3. A single
            clip `(num_frames, height, width, channels)` counts as one clip.
        num_context_frames: int in [0, num_frames], how many leading frames
            of each clip were given to the model.
        ground_truth: optional array of the same shape as `clips`, the true
            clips.
        upscale: int, nearest-neighbour magnification. By default the
            smallest one that makes a clip at least `MIN_CELL_HEIGHT` (64)
            pixels high.
        padding: int, pixels of white between and around cells.
        border: int, width in pixels of the coloured border around each
            frame (0 draws none).

    Returns:
        uint8 array `(strip_height, strip_width, 3)` with
        `strip_height = padding + rows * (height * upscale + 2 * border +
        padding)`, where `rows` is `num_clips` (twice that with
        `ground_truth`), and `strip_width` likewise over `num_frames`.

    Example:

    >>> clips = np.random.uniform(size=(2, 6, 16, 16, 1))
    >>> frame_strip(clips, num_context_frames=2).shape
    (138, 410, 3)
    """
    padding = validation.check_int("padding", padding, 0)
    border = validation.check_int("border", border, 0)
    clips, ground_truth = _prepare(
        clips, num_context_frames, ground_truth, upscale
    )
    num_clips, num_frames, height, width, _ = clips.shape
    rows = []
    for clip_index in range(num_clips):
        rows.append((clips[clip_index], None))
        if ground_truth is not None:
            rows.append((ground_truth[clip_index], GROUND_TRUTH_COLOR))
    cell_height = height + 2 * border
    cell_width = width + 2 * border
    strip = np.empty(
        (
            padding + len(rows) * (cell_height + padding),
            padding + num_frames * (cell_width + padding),
            3,
        ),
        "uint8",
    )
    strip[...] = BACKGROUND_COLOR
    for row_index, (row, colour) in enumerate(rows):
        top = padding + row_index * (cell_height + padding)
        for step in range(num_frames):
            left = padding + step * (cell_width + padding)
            _paste_cell(
                strip,
                top,
                left,
                row[step],
                colour or _step_colour(step, num_context_frames),
                border,
            )
    return strip


def save_frame_strip(
    path,
    clips,
    num_context_frames=0,
    ground_truth=None,
    upscale=None,
    padding=2,
    border=1,
):
    """Saves clips as one PNG frame strip (see `frame_strip`).

    Parent directories are created.

    Args:
        path: str or path-like, where to write the PNG.
        clips: array `(num_clips, num_frames, height, width, channels)` in
            [0, 1] (or one clip `(num_frames, height, width, channels)`).
        num_context_frames: int in [0, num_frames], leading frames that were
            given to the model (blue border); the rest are orange.
        ground_truth: optional array of the same shape as `clips`, each clip
            shown under its prediction with a grey border.
        upscale: int, nearest-neighbour magnification (by default clips are
            enlarged to at least 64 pixels high).
        padding: int, pixels of white between and around cells.
        border: int, width in pixels of the coloured border.

    Returns:
        `path`.

    Example:

    >>> clips = np.random.uniform(size=(2, 8, 16, 16, 3))
    >>> save_frame_strip("/tmp/rollout.png", clips, num_context_frames=2)
    '/tmp/rollout.png'
    """
    from PIL import Image

    strip = frame_strip(
        clips, num_context_frames, ground_truth, upscale, padding, border
    )
    make_parent_directory(path)
    Image.fromarray(strip, "RGB").save(path, format="PNG")
    return path


def _prepare(clips, num_context_frames, ground_truth, upscale):
    """Checks the arguments; returns RGB uint8 clips (and ground truth),
    magnified by `upscale`."""
    clips = as_clips(clips, "clips")
    num_frames = clips.shape[1]
    if not validation.is_int(num_context_frames) or not (
        0 <= num_context_frames <= num_frames
    ):
        raise ValueError(
            "`num_context_frames` must be an int in [0, num_frames] ="
            f" [0, {num_frames}]. Received {num_context_frames!r}"
        )
    if ground_truth is not None:
        ground_truth = as_clips(ground_truth, "ground_truth")
        if ground_truth.shape != clips.shape:
            raise ValueError(
                "`ground_truth` must have the same shape as `clips` (a single"
                " 4-D clip counts as one clip). Received `ground_truth` of"
                f" shape {ground_truth.shape} for `clips` of shape"
                f" {clips.shape}"
            )
    if upscale is None:
        upscale = max(1, math.ceil(MIN_CELL_HEIGHT / clips.shape[2]))
    upscale = validation.check_int("upscale", upscale, 1)
    clips = _to_rgb_pixels(clips, upscale)
    if ground_truth is not None:
        ground_truth = _to_rgb_pixels(ground_truth, upscale)
    return clips, ground_truth


def as_clips(values, name):
    """Checks one clip array and returns it as 5-D float32 in [0, 1].

    Args:
        values: float in [0, 1] or uint8 in [0, 255], shaped `(num_clips,
            num_frames, height, width, channels)`, or one clip without the
            first axis; 1 or 3 channels.
        name: str, the argument's name for error messages.
    """
    array = validation.check_pixels(name, values)
    if array.ndim == 4:
        array = array[None]
    if array.ndim != 5 or array.shape[-1] not in (1, 3) or 0 in array.shape:
        raise ValueError(
            f"`{name}` must have shape (num_clips, num_frames, height, width,"
            " channels), or (num_frames, height, width, channels) for a"
            " single clip, with channels 1 or 3 and no empty dimension."
            f" Received shape {np.shape(values)}"
        )
    return np.clip(validation.pixels_to_float32(array), 0.0, 1.0)


def _to_rgb_pixels(clips, upscale):
    pixels = (clips * 255).round().astype("uint8")
    if pixels.shape[-1] == 1:
        pixels = pixels.repeat(3, axis=-1)
    if upscale > 1:
        pixels = pixels.repeat(upscale, axis=2).repeat(upscale, axis=3)
    return pixels


def _paste_cell(canvas, top, left, frame, colour, border):
    height, width = frame.shape[:2]
    bottom = top + height + 2 * border
    right = left + width + 2 * border
    canvas[top:bottom, left:right] = colour
    canvas[
        top + border : top + border + height,
        left + border : left + border + width,
    ] = frame


def _step_colour(step, num_context_frames):
    return CONTEXT_COLOR if step < num_context_frames else PREDICTED_COLOR
