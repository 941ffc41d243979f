import numpy as np
import pytest

from keras_rin.metrics import KernelInceptionDistance
from tests.metrics.conftest import random_images


def _direct_mmd2(x, y):
    """The unbiased MMD^2 estimator of Bińkowski et al. (2018), term by
    term, under k(a, b) = (a . b / d + 1)^3."""
    m, d = x.shape

    def kernel(a, b):
        return (a @ b.T / d + 1.0) ** 3

    off_diagonal = ~np.eye(m, dtype=bool)
    return (
        kernel(x, x)[off_diagonal].mean()
        + kernel(y, y)[off_diagonal].mean()
        - 2.0 * kernel(x, y).mean()
    )


def test_one_full_subset_is_the_exact_unbiased_mmd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 7)).astype("float32")
    y = (rng.normal(size=(30, 7)) * 1.3 + 0.2).astype("float32")
    kid = KernelInceptionDistance(num_subsets=1, subset_size=30)
    kid.update_real_features(x[:11])
    kid.update_real_features(x[11:])
    kid.update_generated_features({"pool": y})
    result = kid.result()
    expected = _direct_mmd2(x.astype("float64"), y.astype("float64"))
    assert result["kid"] == pytest.approx(expected, rel=1e-10)
    assert result["kid_std"] == 0.0
    assert kid._feature_extractor is None


def test_same_distribution_near_zero_shifted_positive():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 8))

    def kid_of(generated):
        kid = KernelInceptionDistance(num_subsets=20, subset_size=200)
        kid.update_real_features(real)
        kid.update_generated_features(generated)
        return kid.result()

    same = kid_of(rng.normal(size=(400, 8)))
    shifted = kid_of(rng.normal(size=(400, 8)) + 0.5)
    assert abs(same["kid"]) < 0.02
    assert shifted["kid"] > 0.2
    assert shifted["kid"] > 10 * (abs(same["kid"]) + same["kid_std"])


def test_fewer_samples_than_subset_size_warns_and_uses_them_all():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(15, 3)) + 1.0
    kid = KernelInceptionDistance(num_subsets=5, subset_size=1000, seed=3)
    kid.update_real_features(x)
    kid.update_generated_features(y)
    with pytest.warns(UserWarning, match="using subsets of 12"):
        result = kid.result()
    smaller = KernelInceptionDistance(num_subsets=5, subset_size=12, seed=3)
    smaller.update_real_features(x)
    smaller.update_generated_features(y)
    assert result == smaller.result()


def test_images_through_the_extractor(image_extractor):
    real, generated = random_images(0, 16), random_images(1, 16, scale=0.5)
    kid = KernelInceptionDistance(image_extractor, num_subsets=3, subset_size=8)
    kid.update_real(real)
    kid.update_generated(generated)
    reference = KernelInceptionDistance(num_subsets=3, subset_size=8)
    reference.update_real_features(image_extractor.predict_on_batch(real))
    reference.update_generated_features(
        image_extractor.predict_on_batch(generated)
    )
    assert kid.result() == reference.result()
    assert kid.num_real == kid.num_generated == 16
    kid.reset_state()
    assert kid.num_real == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="`subset_size` must be at least 2"):
        KernelInceptionDistance(subset_size=1)
    with pytest.raises(ValueError, match="`num_subsets` must be a positive"):
        KernelInceptionDistance(num_subsets=0)
    kid = KernelInceptionDistance()
    kid.update_real_features(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="dimension 4"):
        kid.update_generated_features(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        kid.update_generated_features(np.full((5, 4), np.nan))
    kid.update_generated_features(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="1 generated"):
        kid.result()
