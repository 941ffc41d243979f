import numpy as np
import pytest

pytest.importorskip("sklearn")

from keras_rin.data import load_digits  # noqa: E402


def test_split_is_fixed_stratified_and_disjoint():
    train_images, train_labels = load_digits("train")
    test_images, test_labels = load_digits("test")
    all_images, _ = load_digits("all")
    assert train_images.shape == (1347, 8, 8, 1)
    assert test_images.shape == (450, 8, 8, 1)
    assert len(all_images) == 1797
    assert train_images.dtype == "float32" and train_labels.dtype == "int32"
    assert train_images.min() == 0.0 and train_images.max() == 1.0
    # Every class is held out in proportion.
    np.testing.assert_allclose(
        np.bincount(test_labels) / np.bincount(train_labels + 0), 1 / 3, 0.06
    )
    # The two splits partition the data set.
    flat = {row.tobytes() for row in all_images.reshape(1797, -1)}
    train = {row.tobytes() for row in train_images.reshape(1347, -1)}
    test = {row.tobytes() for row in test_images.reshape(450, -1)}
    assert train | test <= flat
    again, _ = load_digits("test")
    np.testing.assert_array_equal(again, test_images)


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")
