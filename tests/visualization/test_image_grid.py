import os

import numpy as np
import pytest
from PIL import Image

from keras_rin.visualization import image_grid
from keras_rin.visualization import save_image_grid


def test_grid_places_images_row_by_row():
    images = np.zeros((5, 2, 3, 1), "float32")
    images[3] = 1.0
    grid = image_grid(images, num_columns=3, padding=1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    assert grid.dtype == np.uint8
    # Image 3 is the first of the second row.
    np.testing.assert_array_equal(grid[4:6, 1:4], 255)
    np.testing.assert_array_equal(grid[1:3, 1:4], 0)


def test_save_image_grid_writes_a_png(tmp_path):
    path = os.path.join(tmp_path, "grid.png")
    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 3))
    save_image_grid(images, path, upscale=2)
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size == (2 * 17 + 1, 2 * 17 + 1)


def test_bad_rank_raises():
    with pytest.raises(ValueError, match="must have shape"):
        image_grid(np.zeros((8, 8, 3)))


def test_uint8_images_are_read_as_0_to_255(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3), "uint8")
    grid = image_grid(pixels, num_columns=3)
    np.testing.assert_array_equal(grid, image_grid(pixels / 255, 3))
    np.testing.assert_array_equal(grid[1:5, 1:6], pixels[0])
    path = os.path.join(tmp_path, "grid.png")
    save_image_grid(pixels, path, num_columns=3)
    with Image.open(path) as png:
        np.testing.assert_array_equal(np.asarray(png), grid)


@pytest.mark.parametrize(
    "images, match",
    [
        (np.full((1, 2, 2, 3), 255.0), r"in \[0, 1\]"),
        (np.full((1, 2, 2, 3), np.nan), "non-finite"),
        (np.full((1, 2, 2, 3), 255, "int64"), "uint8"),
    ],
    ids=["floats_0_to_255", "nan", "int64"],
)
def test_pixels_that_are_not_images_raise(images, match):
    with pytest.raises(ValueError, match=match):
        image_grid(images)
