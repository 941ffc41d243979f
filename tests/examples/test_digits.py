import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("sklearn")

EXAMPLE = os.path.join(
    os.path.dirname(__file__), "..", "..", "examples", "quickstart.py"
)


def _load_example():
    spec = importlib.util.spec_from_file_location("quickstart", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_quickstart_fits_and_writes_a_sample_grid(tmp_path, mixed_precision):
    quickstart = _load_example()
    output = os.path.join(tmp_path, "samples.png")
    model, samples = quickstart.main(
        mixed_precision=mixed_precision, output=output, smoke=True
    )
    assert samples.shape == (80, 8, 8, 1)
    assert np.all((samples >= 0) & (samples <= 1))
    assert len(model.history.history["loss"]) == 1
    with Image.open(output) as grid:
        assert grid.size == (8 * 33 + 1, 10 * 33 + 1)
