import numpy as np
import pytest

import keras_rin

pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402


def test_rin_digits_ships_with_weights():
    info = keras_rin.RINImageGenerator.presets["rin_digits"]
    assert info["has_weights"]
    assert info["parameter_count"] < 1_000_000


def test_rin_digits_draws_the_requested_digits():
    # The shipped weights, on every backend: a classifier trained on real
    # digits must recognise most samples as the class that was asked for.
    model = keras_rin.RINImageGenerator.from_preset("rin_digits")
    labels = np.repeat(np.arange(10), 4)
    samples = model.generate(labels=labels, num_steps=50, seed=0, verbose=0)
    images, targets = keras_rin.data.load_digits("train")
    classifier = LogisticRegression(max_iter=3000)
    classifier.fit(images.reshape(len(images), -1), targets)
    predicted = classifier.predict(samples.reshape(len(samples), -1))
    assert np.mean(predicted == labels) >= 0.8


def test_rin_digits_elastic_draws_digits_with_a_compute_schedule():
    # The shipped elastic weights: a quarter of the latents for the noisiest
    # three quarters of the steps still draws the requested digits.
    model = keras_rin.RINImageGenerator.from_preset("rin_digits_elastic")
    assert model.elastic_latent_counts == [4, 8, 16]
    labels = np.repeat(np.arange(10), 2)
    samples = model.generate(
        labels=labels,
        num_steps=20,
        sampler="ddim",
        seed=0,
        verbose=0,
        compute_schedule=[(0.75, 4), (0.25, 16)],
    )
    images, targets = keras_rin.data.load_digits("train")
    classifier = LogisticRegression(max_iter=3000)
    classifier.fit(images.reshape(len(images), -1), targets)
    predicted = classifier.predict(samples.reshape(len(samples), -1))
    assert np.mean(predicted == labels) >= 0.8
