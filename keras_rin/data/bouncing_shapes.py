import numpy as np

from keras_rin.utils import validation

# Rendering: each pixel row is sampled at `_SUBROWS` heights, and every
# sample row covers pixel columns exactly (the covered length of each
# column), so squares are rendered exactly and discs with 4x vertical
# supersampling.
_SUBROWS = 4
# Clips are rendered a few at a time, about this many pixels, which bounds
# the memory used and keeps the work in the CPU's caches.
_CHUNK_PIXELS = 2**17
# Shape size (side of a square, diameter of a disc) and speed, as fractions
# of `image_size`.
_SIZE_RANGE = (1 / 5, 1 / 3.5)
_SPEED_RANGE = (0.06, 0.1)
# Colours in HSV: a muted, darker background and saturated, bright shapes,
# so that shapes always differ from the background by at least 0.3 (about
# 76 levels) in their brightest channel.
_BACKGROUND_SATURATION = (0.1, 0.35)
_BACKGROUND_VALUE = (0.25, 0.55)
_SHAPE_SATURATION = (0.75, 1.0)
_SHAPE_VALUE = (0.85, 1.0)
# Uniform numbers drawn per clip: background hue, saturation and value, the
# shape count, then per shape slot: kind, size, hue, saturation, value, x,
# y, speed and direction.
_CLIP_PARAMS = 4
_SHAPE_PARAMS = 9


def make_bouncing_shapes(
    num_clips, num_frames=8, image_size=16, num_shapes=(1, 2), seed=0
):
    """Procedural clips of shapes bouncing around a plain background.

    A small, offline video data set for video prediction and video
    generation. Each clip has a plain background of a random muted colour
    and a few filled squares or discs of random saturated colours, clearly
    brighter than the background. Each shape moves at a constant velocity
    (a speed of 0.06 to 0.1 `image_size` per frame, in a random direction)
    and bounces elastically off the frame edges, so it always stays fully
    inside the frame. Shapes are `image_size / 5` to `image_size / 3.5`
    pixels across, do not collide with each other and are drawn in a fixed
    order. Positions are sub-pixel and edges anti-aliased, so motion is
    smooth.

    The clips are a pure function of the arguments: equal arguments give
    bit-identical arrays (with the same NumPy on the same kind of CPU), and
    the first `n` clips do not depend on `num_clips`. Different seeds give
    different clips. For disjoint
    training and test clips, use `bouncing_shapes_splits`.

    Args:
        num_clips: int, the number of clips.
        num_frames: int, at least 2. Frames per clip.
        image_size: int, at least 8. Height and width of the frames.
        num_shapes: int, or a `(min, max)` pair of ints: the number of
            shapes in each clip, drawn uniformly from `min..max`
            (inclusive) for each clip.
        seed: non-negative int, or a `numpy.random.SeedSequence`.

    Returns:
        uint8 array of shape
        `(num_clips, num_frames, image_size, image_size, 3)`.

    Example:
    ```python
    clips = keras_rin.data.make_bouncing_shapes(1000, num_frames=8)
    clips = clips.astype("float32") / 255.0  # (1000, 8, 16, 16, 3)
    ```
    """
    num_clips = validation.check_int("num_clips", num_clips, minimum=1)
    num_frames = validation.check_int("num_frames", num_frames, minimum=2)
    image_size = validation.check_int("image_size", image_size, minimum=8)
    min_shapes, max_shapes = _check_num_shapes(num_shapes)
    uniforms = _draw_uniforms(num_clips, max_shapes, _check_seed(seed))
    clips = np.empty(
        (num_clips, num_frames, image_size, image_size, 3), dtype="uint8"
    )
    chunk_size = max(1, _CHUNK_PIXELS // (num_frames * image_size**2))
    for start in range(0, num_clips, chunk_size):
        chunk = uniforms[start : start + chunk_size]
        clips[start : start + len(chunk)] = _render_clips(
            chunk, num_frames, image_size, min_shapes, max_shapes
        )
    return clips


def bouncing_shapes_splits(num_train, num_test, seed=0, **kwargs):
    """Disjoint training and test sets of `make_bouncing_shapes` clips.

    The two sets come from two independent random streams, spawned from
    `seed` with `numpy.random.SeedSequence(seed).spawn(2)`, so neither set
    depends on the size of the other, and neither equals
    `make_bouncing_shapes(..., seed=seed)`.

    Args:
        num_train: int, the number of training clips.
        num_test: int, the number of test clips.
        seed: non-negative int.
        **kwargs: other arguments of `make_bouncing_shapes`
            (`num_frames`, `image_size`, `num_shapes`).

    Returns:
        `(train, test)`: uint8 arrays of shape
        `(num_train, num_frames, image_size, image_size, 3)` and
        `(num_test, num_frames, image_size, image_size, 3)`.

    Example:
    ```python
    train, test = keras_rin.data.bouncing_shapes_splits(20000, 1000)
    ```
    """
    num_train = validation.check_int("num_train", num_train, minimum=1)
    num_test = validation.check_int("num_test", num_test, minimum=1)
    if "num_clips" in kwargs:
        raise ValueError(
            "Pass `num_train` and `num_test` instead of `num_clips`. "
            f"Received: num_clips={kwargs['num_clips']!r}"
        )
    train_seed, test_seed = np.random.SeedSequence(_check_seed(seed)).spawn(2)
    train = make_bouncing_shapes(num_train, seed=train_seed, **kwargs)
    test = make_bouncing_shapes(num_test, seed=test_seed, **kwargs)
    return train, test


def _draw_uniforms(num_clips, max_shapes, seed):
    """All the randomness of the clips: one row of uniform numbers per
    clip, drawn row after row, so that a clip does not depend on how many
    clips follow it."""
    num_params = _CLIP_PARAMS + _SHAPE_PARAMS * max_shapes
    return np.random.default_rng(seed).random((num_clips, num_params))


def _render_clips(uniforms, num_frames, image_size, min_shapes, max_shapes):
    background, shapes = _clip_parameters(
        uniforms, num_frames, image_size, min_shapes, max_shapes
    )
    num_clips = len(uniforms)
    # Channels first, so that NumPy's inner loops run over whole rows.
    frames = np.empty(
        (3, num_clips, num_frames, image_size, image_size), dtype="float32"
    )
    frames[...] = background.T[:, :, None, None, None]
    for shape in shapes:
        alpha = _coverage(shape, image_size)
        for channel in range(3):
            colour = shape["colour"][:, channel, None, None, None]
            frames[channel] += alpha * (colour - frames[channel])
    np.multiply(frames, 255, out=frames)
    np.round(frames, out=frames)
    return np.moveaxis(frames, 0, -1).astype("uint8")


def _clip_parameters(uniforms, num_frames, image_size, min_shapes, max_shapes):
    """Turns one row of uniform numbers per clip into the background colour
    `(n, 3)` and, per shape slot, a dict of the shape's kind, half size,
    colour and `(n, num_frames)` centre coordinates."""
    uniforms = uniforms.astype("float32")
    background = _hsv_to_rgb(
        uniforms[:, 0],
        _lerp(_BACKGROUND_SATURATION, uniforms[:, 1]),
        _lerp(_BACKGROUND_VALUE, uniforms[:, 2]),
    )
    count = min_shapes + np.floor(
        uniforms[:, 3] * (max_shapes - min_shapes + 1)
    ).astype("int64")
    count = np.minimum(count, max_shapes)
    times = np.arange(num_frames, dtype="float32")
    shapes = []
    for slot in range(max_shapes):
        offset = _CLIP_PARAMS + _SHAPE_PARAMS * slot
        shape = _shape_parameters(uniforms[:, offset:], image_size, times)
        shape["present"] = slot < count
        shapes.append(shape)
    return background, shapes


def _shape_parameters(u, image_size, times):
    half = 0.5 * image_size * _lerp(_SIZE_RANGE, u[:, 1])
    speed = image_size * _lerp(_SPEED_RANGE, u[:, 7])
    angle = 2 * np.pi * u[:, 8]
    x = half + u[:, 5] * (image_size - 2 * half)
    y = half + u[:, 6] * (image_size - 2 * half)
    return {
        "is_disc": u[:, 0] < 0.5,
        "half": half,
        "colour": _hsv_to_rgb(
            u[:, 2],
            _lerp(_SHAPE_SATURATION, u[:, 3]),
            _lerp(_SHAPE_VALUE, u[:, 4]),
        ),
        "x": _bounce(x, speed * np.cos(angle), half, image_size, times),
        "y": _bounce(y, speed * np.sin(angle), half, image_size, times),
    }


def _bounce(start, velocity, half, image_size, times):
    """Centre coordinates `(n, frames)` of shapes moving at `velocity` and
    bouncing elastically between `half` and `image_size - half`.

    The unbounded straight-line motion is folded into the allowed interval
    (a triangle wave), which reflects both the position and the velocity
    at each wall, also in the middle of a frame step."""
    low = half[:, None]
    length = image_size - 2 * half[:, None]
    unfolded = start[:, None] - low + velocity[:, None] * times
    phase = np.mod(unfolded, 2 * length)
    return low + length - np.abs(phase - length)


def _coverage(shape, image_size):
    """The fraction of each pixel covered by a shape, `(n, frames, H, W)`."""
    # Heights of the sample rows, `_SUBROWS` per pixel row.
    rows = (np.arange(image_size * _SUBROWS, dtype="float32") + 0.5) / (
        _SUBROWS
    )
    columns = np.arange(image_size + 1, dtype="float32")
    half = shape["half"][:, None, None]
    is_disc = shape["is_disc"][:, None, None]
    dy = rows - shape["y"][..., None]
    # A disc's chord, or a square's full width, over each sample row ...
    half_width = np.where(
        is_disc, np.sqrt(np.maximum(half**2 - dy**2, 0.0)), half
    )
    # ... and for squares, the fraction of the sample row's own height
    # inside the square (discs are point-sampled).
    row_height = 0.5 / _SUBROWS
    row_fraction = (
        np.minimum(dy + row_height, half) - np.maximum(dy - row_height, -half)
    ) / (2 * row_height)
    row_fraction = np.where(is_disc, 1.0, np.clip(row_fraction, 0.0, 1.0))
    row_fraction *= shape["present"][:, None, None] / np.float32(_SUBROWS)
    # The length of the chord left of each column edge; differences of
    # neighbouring edges are the lengths inside each pixel column.
    left = (shape["x"][..., None] - half_width)[..., None]
    inside = np.subtract(columns, left)
    np.clip(inside, 0.0, 2 * half_width[..., None], out=inside)
    covered = np.diff(inside, axis=-1)
    covered *= row_fraction[..., None]
    # Sum the sample rows of each pixel row.
    covered = covered.reshape(
        covered.shape[:2] + (image_size, _SUBROWS, image_size)
    )
    alpha = covered[..., 0, :]
    for subrow in range(1, _SUBROWS):
        alpha += covered[..., subrow, :]
    return alpha


def _hsv_to_rgb(hue, saturation, value):
    """Vectorised HSV to RGB, all in [0, 1]; returns `(..., 3)`."""
    k = np.mod(np.array([5.0, 3.0, 1.0], "float32") + 6 * hue[..., None], 6)
    weight = np.clip(np.minimum(k, 4 - k), 0.0, 1.0)
    value = value[..., None]
    return (value - value * saturation[..., None] * weight).astype("float32")


def _lerp(bounds, u):
    low, high = bounds
    return np.float32(low) + np.float32(high - low) * u


def _check_num_shapes(num_shapes):
    if validation.is_int(num_shapes):
        bounds = (num_shapes, num_shapes)
    elif isinstance(num_shapes, (tuple, list)) and len(num_shapes) == 2:
        bounds = tuple(num_shapes)
    else:
        bounds = None
    if bounds is None or not all(
        validation.is_int(bound) and bound >= 1 for bound in bounds
    ):
        bounds = None
    if bounds is None or bounds[0] > bounds[1]:
        raise ValueError(
            "`num_shapes` must be a positive int or a `(min, max)` pair of "
            "positive ints with min <= max. "
            f"Received: num_shapes={num_shapes!r}"
        )
    return int(bounds[0]), int(bounds[1])


def _check_seed(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return validation.check_seed(seed, allow_none=False)
