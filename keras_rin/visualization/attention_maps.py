"""Read-attention maps over samples (Figure 6 and Figures D.6/D.7 of the
RIN paper).

`RINImageGenerator.generate_with_read_attention` and
`RINVideoPredictor.generate_with_read_attention` return, for each sample,
the read attention of every block at chosen sampling steps: one
distribution over the interface tokens per (step, block), on the token
grid. These functions draw them for one sample as a grid: a row per
sampling step, a column per block (after a first column with the sample
itself), each cell the map as a heat map over the sample. A token's value
covers its whole patch (and, in a video, its `frames_per_patch` frames);
the magnification is derived from the shapes.

Each map is divided by its own maximum before colouring, so the colours
show where one read looks relative to its strongest token, not the
absolute level (a uniform read is all bright). The colour maps are
perceptual ones (inferno, viridis) built in as small lookup tables.
"""

import math

import numpy as np

from keras_rin.utils import validation
from keras_rin.utils.files import make_parent_directory
from keras_rin.visualization.video import MIN_CELL_HEIGHT
from keras_rin.visualization.video import as_clips

# Height in pixels of the band with the column labels at the top.
LABEL_HEIGHT = 14
# Pixels of white between the frames of a video cell.
FRAME_GAP = 1
BACKGROUND_COLOR = (255, 255, 255)
TEXT_COLOR = (0, 0, 0)

# Matplotlib's colour maps sampled at 17 evenly spaced points (RGB, 0-255);
# linear interpolation between them is visually indistinguishable.
_COLORMAPS = {
    "inferno": (
        (0, 0, 4),
        (11, 7, 36),
        (33, 12, 74),
        (61, 9, 101),
        (87, 16, 110),
        (113, 25, 110),
        (138, 34, 106),
        (163, 44, 97),
        (188, 55, 84),
        (210, 70, 68),
        (228, 90, 49),
        (241, 115, 29),
        (249, 142, 9),
        (252, 172, 17),
        (249, 203, 53),
        (242, 234, 105),
        (252, 255, 164),
    ),
    "viridis": (
        (68, 1, 84),
        (72, 24, 106),
        (71, 45, 123),
        (66, 64, 134),
        (59, 82, 139),
        (51, 99, 141),
        (44, 114, 142),
        (38, 130, 142),
        (33, 145, 140),
        (31, 160, 136),
        (40, 174, 128),
        (63, 188, 115),
        (94, 201, 98),
        (132, 212, 75),
        (173, 220, 48),
        (216, 226, 25),
        (253, 231, 37),
    ),
}


def read_attention_grid(
    sample,
    maps,
    step_labels=None,
    upscale=None,
    alpha=0.6,
    show_sample=True,
    colormap="inferno",
    padding=2,
):
    """Draws the read-attention maps of one sample as a grid image.

    Rows are sampling steps, columns are blocks (after a first column with
    the sample itself when `show_sample`). Each cell is the map of that
    step and block, divided by its maximum, coloured with `colormap` and
    blended over the sample with weight `alpha`. For a video, each cell is
    a horizontal strip of the clip's frames, `FRAME_GAP` pixels apart.
    The columns are labelled "sample", "block 1", ... in a band
    `LABEL_HEIGHT` pixels high at the top (numbers only when the cells are
    too narrow for the words), and the rows with `step_labels`, if given,
    in a column at the left.

    Args:
        sample: one image `(height, width, channels)` or one clip
            `(frames, height, width, channels)`, float in [0, 1] or uint8
            in [0, 255], channels 1 or 3.
        maps: array `(num_steps, num_blocks, grid_height, grid_width)` for
            an image, `(num_steps, num_blocks, grid_frames, grid_height,
            grid_width)` for a clip: e.g. `maps[i]` of
            `generate_with_read_attention`. Finite values; the grid must
            divide the sample's frames, height and width.
        step_labels: None, or one string per step (e.g. "step 10
            (t=0.90)") written left of each row.
        upscale: int, nearest-neighbour magnification of the sample. By
            default the smallest one that makes a cell at least 64 pixels
            high (8x8 digits are shown 8 times larger).
        alpha: float in [0, 1], weight of the heat map over the sample (1
            shows the map alone).
        show_sample: bool, add a first column with the sample itself.
        colormap: `"inferno"` or `"viridis"`.
        padding: int, pixels of white between and around cells.

    Returns:
        uint8 RGB array `(height, width, 3)` with
        `height = LABEL_HEIGHT + padding + num_steps * (cell_height +
        padding)` and `width = label_width + padding + num_columns *
        (cell_width + padding)`, where `cell_height = sample height *
        upscale`, `cell_width = frames * (sample width * upscale) +
        (frames - 1) * FRAME_GAP` (`frames` is 1 for an image),
        `num_columns = num_blocks (+ 1 with show_sample)` and
        `label_width` is 0 without `step_labels`.

    Example:

    >>> image = np.random.uniform(size=(8, 8, 1))
    >>> maps = np.random.dirichlet(np.ones(16), size=(3, 2)).reshape(
    ...     3, 2, 4, 4)
    >>> read_attention_grid(image, maps, upscale=8).shape
    (214, 200, 3)
    """
    clip, heat, step_labels, upscale = _check_arguments(
        sample, maps, step_labels, upscale, alpha, colormap
    )
    padding = validation.check_int("padding", padding, 0)
    num_steps, num_blocks = heat.shape[:2]
    num_frames, height, width, _ = clip.shape
    cell_height = height * upscale
    frame_width = width * upscale
    cell_width = num_frames * frame_width + (num_frames - 1) * FRAME_GAP
    num_columns = num_blocks + (1 if show_sample else 0)

    font = _default_font()
    label_width = 0
    if step_labels is not None:
        label_width = padding + max(
            _text_width(font, label) for label in step_labels
        )
    grid = np.empty(
        (
            LABEL_HEIGHT + padding + num_steps * (cell_height + padding),
            label_width + padding + num_columns * (cell_width + padding),
            3,
        ),
        "uint8",
    )
    grid[...] = BACKGROUND_COLOR

    # Pixels of the sample and of every heat map, magnified.
    pixels = _magnify(clip, (1, upscale, upscale))
    factors = (
        num_frames // heat.shape[2],
        upscale * height // heat.shape[3],
        upscale * width // heat.shape[4],
    )
    lut = np.asarray(_COLORMAPS[colormap], "float32")
    column_labels = [f"block {i + 1}" for i in range(num_blocks)]
    if show_sample:
        column_labels.insert(0, "sample")
    for row in range(num_steps):
        top = LABEL_HEIGHT + padding + row * (cell_height + padding)
        cells = [
            _overlay(pixels, heat[row, b], factors, lut, alpha)
            for b in range(num_blocks)
        ]
        if show_sample:
            cells.insert(0, pixels)
        for column, cell in enumerate(cells):
            left = label_width + padding + column * (cell_width + padding)
            for frame in range(num_frames):
                x = left + frame * (frame_width + FRAME_GAP)
                grid[top : top + cell_height, x : x + frame_width] = np.round(
                    cell[frame] * 255
                ).astype("uint8")
    _draw_labels(
        grid,
        font,
        column_labels,
        step_labels,
        label_width,
        padding,
        cell_width,
        cell_height,
    )
    return grid


def save_read_attention_grid(sample, maps, path, step_labels=None, **options):
    """Saves the read-attention grid of one sample as a PNG (see
    `read_attention_grid`); parent directories are created.

    Args:
        sample: one image `(height, width, channels)` or one clip
            `(frames, height, width, channels)`, in [0, 1] or uint8.
        maps: `(num_steps, num_blocks) + token grid` for that sample.
        path: str or path-like, where to write the PNG.
        step_labels: None, or one string per step, written left of each
            row.
        **options: the drawing options of `read_attention_grid`, by
            keyword: `upscale`, `alpha`, `show_sample`, `colormap`,
            `padding`.

    Returns:
        `path`.

    Example:
    ```python
    images, maps = model.generate_with_read_attention(
        labels=[3], num_steps=100, seed=0, steps=[0, 50, 99])
    save_read_attention_grid(
        images[0], maps[0], "read_attention.png",
        step_labels=["t=1.00", "t=0.50", "t=0.01"])
    ```
    """
    from PIL import Image

    grid = read_attention_grid(sample, maps, step_labels, **options)
    make_parent_directory(path)
    Image.fromarray(grid, "RGB").save(path, format="PNG")
    return path


def _check_arguments(sample, maps, step_labels, upscale, alpha, colormap):
    """Returns the sample as a float32 RGB clip `(frames, height, width, 3)`,
    the maps as float32 `(steps, blocks, grid_frames, grid_height,
    grid_width)`, the step labels and the magnification."""
    array = np.asarray(sample)
    if array.ndim not in (3, 4):
        raise ValueError(
            "`sample` must be one image (height, width, channels) or one "
            "clip (frames, height, width, channels). Received shape "
            f"{array.shape}"
        )
    is_image = array.ndim == 3
    clip = as_clips(array[None] if is_image else array, "sample")[0]
    if clip.shape[-1] == 1:
        clip = clip.repeat(3, axis=-1)

    maps = np.asarray(maps)
    grid_axes = "grid_height, grid_width"
    data_axes = "height, width"
    if not is_image:
        grid_axes = "grid_frames, " + grid_axes
        data_axes = "frames, " + data_axes
    expected_rank = 4 if is_image else 5
    if (
        maps.ndim != expected_rank
        or 0 in maps.shape
        or maps.dtype.kind not in "biuf"
    ):
        raise ValueError(
            f"`maps` must be a real array (num_steps, num_blocks, "
            f"{grid_axes}) for a sample of shape {array.shape}. Received "
            f"shape {maps.shape} of dtype {maps.dtype}"
        )
    if is_image:
        maps = maps[:, :, None]
    if not np.all(np.isfinite(maps)):
        raise ValueError("`maps` must be finite. Received NaN or inf values")
    data_shape = array.shape[:-1]
    grid_shape = maps.shape[2:] if not is_image else maps.shape[3:]
    if any(
        size % grid for size, grid in zip(data_shape, grid_shape, strict=True)
    ):
        raise ValueError(
            f"The token grid of `maps` ({grid_axes}) must divide the "
            f"sample's ({data_axes}): each token covers a whole patch. "
            f"Received a grid of {grid_shape} for a sample of shape "
            f"{array.shape}"
        )

    num_steps = maps.shape[0]
    if step_labels is not None:
        if isinstance(step_labels, str) or len(step_labels) != num_steps:
            raise ValueError(
                f"`step_labels` must be None or {num_steps} strings, one per "
                f"row of `maps`. Received: step_labels={step_labels!r}"
            )
        step_labels = [str(label) for label in step_labels]
    if upscale is None:
        upscale = max(1, math.ceil(MIN_CELL_HEIGHT / clip.shape[1]))
    upscale = validation.check_int("upscale", upscale, 1)
    alpha = validation.check_rate("alpha", alpha, allow_one=True)
    if colormap not in _COLORMAPS:
        raise ValueError(
            f"`colormap` must be one of {sorted(_COLORMAPS)}. Received: "
            f"colormap={colormap!r}"
        )
    return clip, maps.astype("float32"), step_labels, upscale


def _magnify(values, factors):
    """Nearest-neighbour magnification of the first three axes."""
    for axis, factor in enumerate(factors):
        if factor > 1:
            values = values.repeat(factor, axis=axis)
    return values


def _colorize(values, lut):
    """Values in [0, 1] to RGB in [0, 1] through a lookup table."""
    position = np.clip(values, 0.0, 1.0) * (len(lut) - 1)
    low = np.minimum(np.floor(position).astype("int32"), len(lut) - 2)
    weight = (position - low)[..., None]
    return ((1 - weight) * lut[low] + weight * lut[low + 1]) / 255.0


def _overlay(pixels, heat, factors, lut, alpha):
    """One cell: the map normalised by its maximum, magnified to the
    pixels, coloured and blended over them."""
    peak = float(heat.max())
    heat = heat / peak if peak > 0 else np.zeros_like(heat)
    colours = _colorize(_magnify(heat, factors), lut)
    return (1 - alpha) * pixels + alpha * colours


def _default_font():
    from PIL import ImageFont

    return ImageFont.load_default()


def _text_width(font, text):
    left, _, right, _ = font.getbbox(text)
    return int(math.ceil(right - left))


def _text_height(font, text):
    _, top, _, bottom = font.getbbox(text)
    return int(math.ceil(bottom - top))


def _draw_labels(
    grid,
    font,
    column_labels,
    step_labels,
    label_width,
    padding,
    cell_width,
    cell_height,
):
    """Writes the column labels (or their numbers, when the words do not
    fit a cell) and the step labels onto `grid` in place."""
    from PIL import Image
    from PIL import ImageDraw

    image = Image.fromarray(grid, "RGB")
    draw = ImageDraw.Draw(image)
    if any(_text_width(font, label) > cell_width for label in column_labels):
        column_labels = [label.rsplit(" ", 1)[-1] for label in column_labels]
        column_labels = [
            "" if label == "sample" else label for label in column_labels
        ]
    for column, label in enumerate(column_labels):
        if not label or _text_width(font, label) > cell_width:
            continue
        left = label_width + padding + column * (cell_width + padding)
        x = left + (cell_width - _text_width(font, label)) // 2
        y = max(0, (LABEL_HEIGHT - _text_height(font, label)) // 2)
        draw.text(
            (x, y - font.getbbox(label)[1]), label, fill=TEXT_COLOR, font=font
        )
    for row, label in enumerate(step_labels or ()):
        top = LABEL_HEIGHT + padding + row * (cell_height + padding)
        y = top + (cell_height - _text_height(font, label)) // 2
        draw.text(
            (padding, y - font.getbbox(label)[1]),
            label,
            fill=TEXT_COLOR,
            font=font,
        )
    grid[...] = np.asarray(image)
