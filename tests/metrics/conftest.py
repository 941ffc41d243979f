import keras
import numpy as np
import pytest


@pytest.fixture(scope="session")
def image_extractor():
    """A tiny random Keras feature extractor for 8x8 RGB images in [0, 1]:
    `{"pool": (batch, 6), "logits": (batch, 5)}`."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, activation="tanh")(inputs * 4.0 - 2.0)
    pool = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(x))
    logits = keras.layers.Dense(5)(pool)
    return keras.Model(inputs, {"pool": pool, "logits": logits})


def random_images(seed, num_images, scale=1.0):
    """Uniform 8x8 RGB images in [0, scale]."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(num_images, 8, 8, 3)) * scale).astype("float32")
