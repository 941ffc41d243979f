import numpy as np
import pytest

from keras_rin.metrics import InceptionScore
from tests.metrics.conftest import random_images


def _direct_inception_score(logits, num_splits):
    scores = []
    for split in np.split(logits.astype("float64"), num_splits):
        p = np.exp(split) / np.exp(split).sum(axis=1, keepdims=True)
        p_y = p.mean(axis=0)
        kl = (p * (np.log(p) - np.log(p_y))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return np.mean(scores), np.std(scores)


def test_uniform_predictions_score_one():
    inception_score = InceptionScore(num_splits=4)
    inception_score.update_logits(np.zeros((40, 10)))
    result = inception_score.result()
    assert result["inception_score"] == pytest.approx(1.0, abs=1e-12)
    assert result["inception_score_std"] == pytest.approx(0.0, abs=1e-12)


def test_confident_predictions_over_k_classes_score_k():
    k = 4
    logits = 50.0 * np.eye(10)[np.arange(40) % k]
    inception_score = InceptionScore(num_splits=2)
    inception_score.update_logits(logits[:25])
    inception_score.update_generated_features({"logits": logits[25:]})
    result = inception_score.result()
    assert result["inception_score"] == pytest.approx(k, rel=1e-9)
    assert result["inception_score_std"] == pytest.approx(0.0, abs=1e-9)


def test_matches_the_direct_formula():
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(30, 6)) * 3.0).astype("float32")
    inception_score = InceptionScore(num_splits=3)
    for start in range(0, 30, 7):
        inception_score.update_logits(logits[start : start + 7])
    mean, std = _direct_inception_score(logits, 3)
    result = inception_score.result()
    assert result["inception_score"] == pytest.approx(mean, rel=1e-12)
    assert result["inception_score_std"] == pytest.approx(std, rel=1e-9)
    assert std > 0


def test_images_through_the_classifier(image_extractor):
    images = random_images(0, 20)
    inception_score = InceptionScore(image_extractor, num_splits=2)
    inception_score.update(images[:10])
    inception_score.update_generated(images[10:])
    reference = InceptionScore(num_splits=2)
    for i in (0, 10):
        reference.update_logits(
            image_extractor.predict_on_batch(images[i : i + 10])
        )
    assert inception_score.result() == reference.result()
    assert inception_score.count == 20
    inception_score.reset_state()
    assert inception_score.count == 0


def test_bad_inputs():
    inception_score = InceptionScore(num_splits=10)
    inception_score.update_logits(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="needs at least 10 samples"):
        inception_score.result()
    with pytest.raises(ValueError, match="3 classes"):
        inception_score.update_logits(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="`logits` must be a 2-D"):
        inception_score.update_logits(np.zeros(5))
    with pytest.raises(ValueError, match='"logits" entry'):
        inception_score.update_logits({"pool": np.zeros((5, 3))})
    with pytest.raises(ValueError, match="`classifier` must be"):
        InceptionScore(classifier=3)
    with pytest.raises(ValueError, match="`num_splits` must be a positive"):
        InceptionScore(num_splits=0)
