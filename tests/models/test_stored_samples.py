"""Fixed-seed outputs of the shipped presets (and of a tiny video
predictor) against outputs stored before the architecture was split into
its modules (`tests/fixtures/make_stored_samples.py`, one file per
backend): what a user gets from `from_preset(...)` must not change."""

import numpy as np
import pytest

from tests.fixtures import make_stored_samples


@pytest.fixture(scope="module")
def outputs():
    return make_stored_samples.compute_outputs()


@pytest.fixture(scope="module")
def stored():
    return np.load(make_stored_samples.stored_samples_path())


NAMES = [
    "digits_ddpm",
    "digits_ddim_guided",
    "digits_read_attention_images",
    "digits_read_attention_maps",
    "digits_training_prediction",
    "digits_training_target",
    "elastic_schedule",
    "elastic_training_prediction",
    "elastic_training_target",
    "video_ddpm",
    "video_schedule",
    "video_training_prediction",
    "video_training_target",
]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_equal_the_stored_ones(outputs, stored, name):
    assert outputs[name].shape == stored[name].shape
    np.testing.assert_allclose(outputs[name], stored[name], atol=2e-5)
