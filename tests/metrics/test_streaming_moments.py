import numpy as np
import pytest

from keras_rin.metrics import StreamingMoments


def _feed(moments, data, sizes):
    start = 0
    for size in sizes:
        moments.update(data[start : start + size])
        start += size
    assert start == len(data)


def test_uneven_batches_match_numpy_on_all_data():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(250, 5)) @ rng.normal(size=(5, 5)) + 3.0
    moments = StreamingMoments()
    _feed(moments, data, [1, 0, 7, 100, 2, 33, 1, 106])
    assert moments.count == 250 and moments.dim == 5
    np.testing.assert_allclose(moments.mean, data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(
        moments.covariance, np.cov(data, rowvar=False), rtol=1e-11
    )


def test_stable_with_a_large_offset():
    # Spread 1e-2 around 1e4: accumulating sum(x) and sum(x^2) would lose
    # about 8 of float64's 16 digits of the variance; Chan's update keeps
    # nearly all of them.
    rng = np.random.default_rng(1)
    data = 1e4 + 1e-2 * rng.normal(size=(3000, 3))
    moments = StreamingMoments()
    _feed(moments, data, [17] * 100 + [1300])
    centered = data - data.mean(0)
    reference = centered.T @ centered / (len(data) - 1)
    np.testing.assert_allclose(moments.mean, data.mean(0), rtol=1e-14)
    np.testing.assert_allclose(moments.covariance, reference, rtol=1e-9)


def test_reset_forgets_samples_and_dimension():
    moments = StreamingMoments()
    moments.update(np.ones((3, 4)))
    moments.reset()
    assert moments.count == 0 and moments.dim is None
    moments.update(np.arange(6.0).reshape(3, 2))
    np.testing.assert_allclose(moments.mean, [2.0, 3.0])


def test_bad_inputs():
    moments = StreamingMoments()
    with pytest.raises(ValueError, match="`features` must be a 2-D"):
        moments.update(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        moments.update(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="needs at least 1 sample"):
        _ = moments.mean
    moments.update(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="needs at least 2 samples"):
        _ = moments.covariance
    with pytest.raises(ValueError, match="dimension 2"):
        moments.update(np.zeros((4, 3)))
