import math

import numpy as np

from keras_rin.utils import validation


def image_grid(images, num_columns=None, padding=1, upscale=1):
    """Tiles images into one grid image.

    Args:
        images: array `(num_images, height, width, channels)`, float in
            [0, 1] or uint8 in [0, 255] (as `keras_rin.data` loads them).
        num_columns: int, images per row (a square-ish grid by default).
        padding: int, pixels of white between images.
        upscale: int, nearest-neighbour magnification (small images such as
            8x8 digits are easier to see enlarged).

    Returns:
        uint8 array `(grid_height, grid_width, channels)`.

    Raises:
        ValueError: `images` is not 4-D, or holds neither uint8 values
            nor finite floats in [0, 1] (floats in [0, 255], say).
    """
    images = validation.check_pixels("images", images)
    if images.ndim != 4:
        raise ValueError(
            "`images` must have shape (num_images, height, width, channels)."
            f" Received shape {images.shape}"
        )
    images = validation.pixels_to_float32(images)
    if upscale > 1:
        images = images.repeat(upscale, axis=1).repeat(upscale, axis=2)
    count, height, width, channels = images.shape
    num_columns = num_columns or math.ceil(math.sqrt(count))
    num_rows = math.ceil(count / num_columns)
    grid = np.ones(
        (
            num_rows * (height + padding) + padding,
            num_columns * (width + padding) + padding,
            channels,
        ),
        "float32",
    )
    for index, image in enumerate(images):
        row, column = divmod(index, num_columns)
        top = padding + row * (height + padding)
        left = padding + column * (width + padding)
        grid[top : top + height, left : left + width] = image
    return (np.clip(grid, 0, 1) * 255).round().astype("uint8")


def save_image_grid(images, path, num_columns=None, padding=1, upscale=1):
    """Saves images as one PNG grid and returns `path`.

    Args:
        images: array `(num_images, height, width, channels)`, float in
            [0, 1] or uint8 in [0, 255]; 1 channel (saved grey-scale) or
            3.
        path: str, the PNG file to write.
        num_columns, padding, upscale: as in `image_grid`.

    Returns:
        `path`.
    """
    from PIL import Image

    grid = image_grid(images, num_columns, padding, upscale)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    Image.fromarray(grid).save(path)
    return path
