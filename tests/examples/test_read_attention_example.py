import os

import pytest
from PIL import Image

import keras_rin
from tests.examples import load_example
from tests.helpers import tiny_backbone

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large


def test_read_attention_example_saves_one_grid_per_sample(tmp_path):
    preset = os.path.join(tmp_path, "preset")
    keras_rin.RINImageGenerator(tiny_backbone(), seed=0).save_to_preset(preset)
    example = load_example("read_attention")
    output = os.path.join(tmp_path, "maps")
    args = example.parse_args(
        ["--preset", preset, "--num-samples", "2", "--num-steps", "3"]
        + ["--steps", "0", "2", "50", "--output", output]
    )
    samples, maps, paths = example.main(args)
    # Steps beyond --num-steps are dropped; 2 blocks on a 4x4 patch grid.
    assert maps.shape == (2, 2, 2, 4, 4)
    assert samples.shape == (2, 8, 8, 1)
    assert paths == [f"{output}_0.png", f"{output}_1.png"]
    with Image.open(paths[1]) as image:
        assert image.mode == "RGB" and image.size[1] > 2 * 64
