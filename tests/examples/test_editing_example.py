import os

import keras
import numpy as np
import pytest
from PIL import Image

from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("sklearn")


# Editing itself is tested on every backend in
# tests/models/test_fast_sampling.py; the example's figure, once.
@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="backend-independent example logic: run once, on PyTorch "
    "(the fastest here)",
)
def test_editing_keeps_what_it_must_and_writes_the_figure(tmp_path):
    example = load_example("editing")
    grid = example.main(output=str(tmp_path), classes=(3, 7))
    rows = grid.reshape(2, 6, 8, 8, 1)
    originals = example.held_out_digit_per_class((3, 7))
    np.testing.assert_array_equal(rows[:, 0], originals)
    # Inpainting keeps the upper half exactly and draws the lower half.
    for column in (4, 5):
        np.testing.assert_array_equal(rows[:, column, :4], originals[:, :4])
    assert np.abs(rows[:, 5, 4:] - originals[:, 4:]).max() > 0.1
    # SDEdit changes more of the digit as the strength grows.
    changes = [np.abs(rows[:, c] - originals).mean() for c in (1, 2, 3)]
    assert changes[0] < changes[2]
    with Image.open(os.path.join(tmp_path, "editing.png")) as image:
        assert image.size[0] > 100
