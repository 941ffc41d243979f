import numpy as np
import pytest
from PIL import Image

from keras_rin.visualization import read_attention_grid
from keras_rin.visualization import save_read_attention_grid
from keras_rin.visualization.attention_maps import _COLORMAPS
from keras_rin.visualization.attention_maps import FRAME_GAP
from keras_rin.visualization.attention_maps import LABEL_HEIGHT

rng = np.random.default_rng(0)


def _maps(num_steps, num_blocks, grid):
    size = int(np.prod(grid))
    maps = rng.dirichlet(np.ones(size), size=(num_steps, num_blocks))
    return maps.reshape((num_steps, num_blocks) + grid).astype("float32")


def _expected_size(rows, columns, cell_height, cell_width, padding=2):
    return (
        LABEL_HEIGHT + padding + rows * (cell_height + padding),
        padding + columns * (cell_width + padding),
    )


def test_image_grid_png(tmp_path):
    image = rng.uniform(size=(8, 8, 1)).astype("float32")
    maps = _maps(3, 2, (4, 4))
    path = save_read_attention_grid(image, maps, tmp_path / "image.png")
    with Image.open(path) as png:
        assert png.mode == "RGB"
        # 8x8 digits are magnified 8 times by default: 64-pixel cells; a
        # row per step, a column for the sample and one per block.
        height, width = _expected_size(3, 3, 64, 64)
        assert png.size == (width, height)
    grid = read_attention_grid(image, maps, upscale=2, show_sample=False)
    assert grid.shape == _expected_size(3, 2, 16, 16) + (3,)
    assert grid.dtype == np.uint8
    labelled = read_attention_grid(
        image, maps, step_labels=["step 0 (t=1.00)", "step 5", "step 9"]
    )
    # The step labels take a column at the left.
    assert labelled.shape[0] == height and labelled.shape[1] > width + 40


def test_video_grid_png(tmp_path):
    clip = rng.uniform(size=(4, 8, 8, 3)).astype("float32")
    maps = _maps(2, 2, (2, 4, 4))
    path = save_read_attention_grid(
        clip, maps, tmp_path / "sub" / "video.png", upscale=4
    )
    with Image.open(path) as png:
        # Each cell is a strip of the 4 frames, 32 pixels each.
        cell_width = 4 * 32 + 3 * FRAME_GAP
        height, width = _expected_size(2, 3, 32, cell_width)
        assert png.size == (width, height)


def test_each_token_covers_its_patch_and_frames():
    # One-hot maps shown alone (alpha=1): the token's pixels take the top
    # of the colour map, all others its bottom.
    low, high = _COLORMAPS["inferno"][0], _COLORMAPS["inferno"][-1]
    image = np.zeros((8, 8, 1), "float32")
    maps = np.zeros((1, 1, 4, 4), "float32")
    maps[0, 0, 2, 1] = 0.5
    grid = read_attention_grid(
        image, maps, upscale=1, alpha=1.0, show_sample=False, padding=0
    )
    cell = grid[LABEL_HEIGHT:]
    hot = np.zeros((8, 8), bool)
    hot[4:6, 2:4] = True
    assert np.all(cell[hot] == high) and np.all(cell[~hot] == low)

    clip = np.zeros((4, 8, 8, 3), "float32")
    maps = np.zeros((1, 1, 2, 4, 4), "float32")
    maps[0, 0, 1, 0, 3] = 1.0
    grid = read_attention_grid(
        clip, maps, upscale=1, alpha=1.0, show_sample=False, padding=0
    )
    cell = grid[LABEL_HEIGHT:]
    for frame in range(4):
        pixels = cell[:, frame * (8 + FRAME_GAP) :][:, :8]
        hot = np.zeros((8, 8), bool)
        if frame >= 2:  # the second temporal patch: frames 2 and 3
            hot[0:2, 6:8] = True
        assert np.all(pixels[hot] == high) and np.all(pixels[~hot] == low)


@pytest.mark.parametrize(
    "sample_shape, maps_shape, kwargs, message",
    [
        ((8, 8), (1, 2, 4, 4), {}, "`sample` must be one image"),
        ((8, 8, 1), (1, 2, 16), {}, "`maps` must be a real array"),
        ((8, 8, 1), (1, 2, 2, 4, 4), {}, "`maps` must be a real array"),
        ((4, 8, 8, 3), (1, 2, 4, 4), {}, "`maps` must be a real array"),
        ((8, 8, 1), (1, 2, 3, 3), {}, "must divide the sample"),
        ((4, 8, 8, 3), (1, 2, 3, 4, 4), {}, "must divide the sample"),
        ((8, 8, 5), (1, 2, 4, 4), {}, "channels 1 or 3"),
        ((8, 8, 1), (2, 2, 4, 4), {"step_labels": ["a"]}, "`step_labels`"),
        ((8, 8, 1), (1, 2, 4, 4), {"alpha": 1.5}, "`alpha`"),
        ((8, 8, 1), (1, 2, 4, 4), {"upscale": 0}, "`upscale`"),
        ((8, 8, 1), (1, 2, 4, 4), {"colormap": "jet"}, "`colormap`"),
    ],
)
def test_bad_arguments_raise(sample_shape, maps_shape, kwargs, message):
    sample = np.zeros(sample_shape, "float32")
    maps = np.ones(maps_shape, "float32")
    with pytest.raises(ValueError, match=message):
        read_attention_grid(sample, maps, **kwargs)


def test_non_finite_maps_and_pixels_raise():
    maps = np.ones((1, 1, 4, 4), "float32")
    maps[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`maps` must be finite"):
        read_attention_grid(np.zeros((8, 8, 1)), maps)
    with pytest.raises(
        ValueError, match=r"`sample` must hold float pixel values in \[0, 1\]"
    ):
        read_attention_grid(np.full((8, 8, 1), 2.0), np.ones((1, 1, 4, 4)))
