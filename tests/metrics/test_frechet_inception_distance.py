import numpy as np
import pytest

from keras_rin.metrics import FrechetInceptionDistance
from keras_rin.metrics import frechet_distance
from tests.metrics.conftest import random_images


def test_streaming_features_match_frechet_distance_on_all_features():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(90, 6))
    generated = rng.normal(size=(70, 6)) * 1.5 + 0.3
    fid = FrechetInceptionDistance()
    for start, stop in [(0, 1), (1, 40), (40, 90)]:
        fid.update_real_features(real[start:stop])
    for start, stop in [(0, 33), (33, 70)]:
        fid.update_generated_features({"pool": generated[start:stop]})
    assert fid.result() == pytest.approx(
        frechet_distance(real, generated), rel=1e-10
    )
    # The default extractor was never needed, so never built.
    assert fid._feature_extractor is None
    fid.reset_state()
    assert fid.real_moments.count == fid.generated_moments.count == 0


def test_images_through_the_extractor(image_extractor):
    real = random_images(0, 48)
    same = random_images(1, 48)
    darker = random_images(2, 48, scale=0.6)

    def fid_of(images_a, images_b):
        fid = FrechetInceptionDistance(image_extractor)
        for i in range(0, 48, 16):
            fid.update_real(images_a[i : i + 16])
            fid.update_generated(images_b[i : i + 16])
        return fid.result()

    pool = {
        name: np.concatenate(
            [
                image_extractor.predict_on_batch(images[i : i + 16])["pool"]
                for i in range(0, 48, 16)
            ]
        )
        for name, images in [("real", real), ("darker", darker)]
    }
    shifted = fid_of(real, darker)
    assert shifted == pytest.approx(
        frechet_distance(pool["real"], pool["darker"]), rel=1e-6
    )
    assert fid_of(real, real) == pytest.approx(0.0, abs=1e-6)
    assert shifted > 5 * fid_of(real, same)


def test_bad_inputs(image_extractor):
    fid = FrechetInceptionDistance(image_extractor)
    with pytest.raises(ValueError, match="`images` must be a 4-D"):
        fid.update_real(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match=r"`images` must hold float.*\[0, 1\]"):
        fid.update_real(np.full((2, 8, 8, 3), 2.0, "float32"))
    with pytest.raises(ValueError, match="`images` contains .* non-finite"):
        fid.update_generated(np.full((2, 8, 8, 3), np.nan, "float32"))
    with pytest.raises(ValueError, match="`images` must be float"):
        fid.update_generated(np.zeros((2, 8, 8, 3), "int32"))
    fid.update_real_features(np.zeros((1, 6)))
    with pytest.raises(ValueError, match="same dimension"):
        fid.update_generated_features(np.zeros((3, 4)))
    fid.update_generated_features(np.ones((3, 6)))
    with pytest.raises(ValueError, match="at least 2 real images"):
        fid.result()
    with pytest.raises(ValueError, match='"pool" entry'):
        fid.update_real_features({"logits": np.zeros((3, 6))})
    with pytest.raises(ValueError, match="`feature_extractor` must be"):
        FrechetInceptionDistance(feature_extractor="inception")
