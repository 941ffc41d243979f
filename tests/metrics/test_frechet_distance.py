import numpy as np
import pytest

from keras_rin.metrics import frechet_distance
from keras_rin.metrics import frechet_distance_from_statistics


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


def test_from_statistics_is_the_same_distance():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 4))
    b = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 0.5
    stats_a = a.mean(0), np.cov(a, rowvar=False)
    stats_b = b.mean(0), np.cov(b, rowvar=False)
    assert frechet_distance_from_statistics(*stats_a, *stats_b) == (
        frechet_distance(a, b)
    )
    assert frechet_distance_from_statistics(*stats_a, *stats_a) == (
        pytest.approx(0.0, abs=1e-9)
    )


def test_from_statistics_bad_inputs():
    mean, cov = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="`mean_a` must be a 1-D"):
        frechet_distance_from_statistics(cov, cov, mean, cov)
    with pytest.raises(ValueError, match="`cov_b` must have shape"):
        frechet_distance_from_statistics(mean, cov, mean, np.eye(2))
    with pytest.raises(ValueError, match="`mean_b` must have shape"):
        frechet_distance_from_statistics(mean, cov, np.zeros(2), cov)
    with pytest.raises(ValueError, match="`cov_a` contains NaN"):
        frechet_distance_from_statistics(mean, cov * np.nan, mean, cov)
