import json
import os

import numpy as np
import pytest

import keras_rin

pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402

STUDY_RESULTS = os.path.join(
    os.path.dirname(__file__), "..", "..", "docs", "sampling", "results.json"
)


def test_rin_digits_ships_with_weights():
    info = keras_rin.RINImageGenerator.presets["rin_digits"]
    assert info["has_weights"]
    assert info["parameter_count"] < 1_000_000


def test_rin_digits_draws_the_requested_digits():
    # The shipped weights, on every backend: a classifier trained on real
    # digits must recognise most samples as the class that was asked for.
    model = keras_rin.RINImageGenerator.from_preset("rin_digits")
    labels = np.repeat(np.arange(10), 4)
    # The preset's own sampler and step count (the sampler study's best).
    samples = model.generate(labels=labels, seed=0, verbose=0)
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


@pytest.mark.parametrize("preset", ["rin_digits", "rin_digits_elastic"])
def test_the_digit_presets_carry_the_sampler_study_recommendation(preset):
    # docs/sampling/results.json is what examples/sampler_study.py wrote.
    with open(STUDY_RESULTS) as file:
        studies = {s["preset"]: s for s in json.load(file)["presets"]}
    recommended = studies[preset]["recommended"]
    model = keras_rin.RINImageGenerator.from_preset(preset)
    assert model.sampler == recommended["sampler"]
    assert model.sampling_spacing == recommended["spacing"]
    assert model.num_sampling_steps == recommended["num_steps"]
