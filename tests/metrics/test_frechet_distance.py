import numpy as np
import pytest

from keras_rin.metrics import frechet_distance


def test_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50_000, 3))
    b = rng.normal(size=(50_000, 3)) * 2.0 + 1.0
    # |mu|^2 = 3; per dimension 1 + 4 - 2 * sqrt(1 * 4) = 1.
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.02)


def test_zero_for_identical_sets_and_symmetric():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 8))
    b = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a))


def test_bad_inputs():
    with pytest.raises(ValueError, match="features_a"):
        frechet_distance(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 2), np.nan), np.zeros((5, 2)))
