import os

import numpy as np
import pytest

import keras_rin


def _emoji_data_installed():
    try:
        keras_rin.data.load_emoji("test")
    except keras_rin.data.DataUnavailableError:
        return False
    return True


def test_rin_emoji32_ships_small_float32_weights():
    info = keras_rin.RINImageGenerator.presets["rin_emoji32"]
    assert info["has_weights"]
    weights = os.path.join(info["path"], "model.weights.h5")
    assert os.path.getsize(weights) <= 25 * 2**20
    model = keras_rin.RINImageGenerator.from_preset("rin_emoji32")
    assert model.backbone.num_classes == len(keras_rin.data.EMOJI_GROUPS)
    assert all(v.dtype == "float32" for v in model.weights)


def test_rin_emoji32_draws_emoji_on_a_white_background():
    # The shipped weights, on every backend, with the preset's own sampler:
    # emoji are drawn on white, so the corners of a sample are white, the
    # centre is not, and the images are coloured, not grey.
    model = keras_rin.RINImageGenerator.from_preset("rin_emoji32")
    labels = np.arange(len(keras_rin.data.EMOJI_GROUPS))
    samples = model.generate(labels=labels, seed=0, verbose=0)
    assert samples.shape == (len(labels), 32, 32, 3)
    assert np.all(np.isfinite(samples))
    corners = samples[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.mean(corners > 0.85) > 0.75
    centre = samples[:, 8:24, 8:24]
    assert np.mean(centre < 0.85) > 0.3
    saturation = centre.max(-1) - centre.min(-1)
    assert np.mean(saturation) > 0.1


def _shrink(images):
    images = np.asarray(images, dtype="float64")
    blocks = images.reshape(len(images), 8, 4, 8, 4, 3).mean((2, 4))
    return blocks.reshape(len(images), -1)


@pytest.mark.skipif(
    not _emoji_data_installed(),
    reason="needs `apt install fonts-noto-color-emoji unicode-data`",
)
def test_rin_emoji32_draws_new_emoji_of_the_requested_group():
    # Where the emoji can be rendered: samples are close to real emoji in
    # pixels, yet not copies of training emoji, and a linear classifier
    # trained on real emoji reads their group above chance.
    from sklearn.linear_model import LogisticRegression

    images, labels = keras_rin.data.load_emoji("train")
    model = keras_rin.RINImageGenerator.from_preset("rin_emoji32")
    requested = np.repeat(np.arange(len(keras_rin.data.EMOJI_GROUPS)), 4)
    samples = model.generate(labels=requested, seed=1, verbose=0)
    real = images.reshape(len(images), -1) / 255.0
    flat = samples.reshape(len(samples), -1)
    squared = (flat**2).sum(1)[:, None] + (real**2).sum(1) - 2 * flat @ real.T
    distances = np.sqrt(np.maximum(squared.min(1), 0) / flat.shape[1])
    assert np.median(distances) < 0.25
    assert np.mean(distances < 0.01) < 0.5
    # On 8x8 averages of the images: a second to fit, not minutes.
    classifier = LogisticRegression(max_iter=1000)
    classifier.fit(_shrink(images / 255.0), labels)
    accuracy = np.mean(classifier.predict(_shrink(samples)) == requested)
    assert accuracy > 2.0 / len(keras_rin.data.EMOJI_GROUPS)
