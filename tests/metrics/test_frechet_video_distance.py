import keras
import numpy as np
import pytest

from keras_rin.metrics import FrechetVideoDistance
from keras_rin.metrics import frechet_distance


@pytest.fixture(scope="module")
def video_extractor():
    """A tiny random Conv3D network: (batch, 2, 8, 8, 3) -> (batch, 5)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2, 8, 8, 3))
    x = keras.layers.Conv3D(4, (2, 3, 3), activation="tanh")(inputs * 2.0)
    x = keras.layers.GlobalAveragePooling3D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def _videos(seed, num_videos, scale=1.0, size=8, channels=3):
    rng = np.random.default_rng(seed)
    shape = (num_videos, 2, size, size, channels)
    return (rng.uniform(size=shape) * scale).astype("float32")


def test_keras_extractor_matches_frechet_distance(video_extractor):
    real, generated = _videos(0, 24), _videos(1, 24, scale=0.5)
    fvd = FrechetVideoDistance(video_extractor, input_size=(8, 8))
    for i in range(0, 24, 12):
        fvd.update_real(real[i : i + 12])
        fvd.update_generated(generated[i : i + 12])
    features = [
        np.concatenate(
            [
                video_extractor.predict_on_batch(v[i : i + 12] * 2.0 - 1.0)
                for i in range(0, 24, 12)
            ]
        )
        for v in (real, generated)
    ]
    assert fvd.result() == pytest.approx(frechet_distance(*features), rel=1e-6)
    assert fvd.result() > 0.01
    fvd.reset_state()
    fvd.update_real(real[:12])
    fvd.update_generated(real[:12])
    assert fvd.result() == pytest.approx(0.0, abs=1e-6)


def test_preprocessing_resizes_scales_and_repeats_grey():
    fvd = FrechetVideoDistance(lambda v: v[:, 0, 0, 0], input_size=(8, 8))
    grey = (_videos(2, 2, size=6, channels=1) * 255).astype("uint8")
    inputs = fvd.preprocess(grey)
    assert inputs.shape == (2, 2, 8, 8, 3) and inputs.dtype == "float32"
    np.testing.assert_array_equal(inputs[..., 0], inputs[..., 2])
    rgb = np.repeat(grey, 3, axis=-1).astype("float32") / 255.0
    np.testing.assert_allclose(fvd.preprocess(rgb), inputs, atol=1e-6)
    constant = np.full((1, 2, 5, 7, 3), 0.25, "float32")
    np.testing.assert_allclose(fvd.preprocess(constant), -0.5, atol=1e-6)
    assert inputs.min() >= -1.0 and inputs.max() <= 1.0


def test_saved_model_path_on_every_backend(tmp_path):
    tf = pytest.importorskip("tensorflow")

    class Features(tf.Module):
        def __init__(self):
            super().__init__()
            weights = np.random.default_rng(0).normal(size=(6, 4))
            self.weights = tf.Variable(weights.astype("float32"))

        @tf.function(
            input_signature=[tf.TensorSpec((None, None, 8, 8, 3), tf.float32)]
        )
        def __call__(self, videos):
            moments = tf.concat(
                [
                    tf.reduce_mean(videos, axis=[1, 2, 3]),
                    tf.reduce_mean(videos**2, axis=[1, 2, 3]),
                ],
                axis=1,
            )
            return tf.tanh(moments @ self.weights)

    module = Features()
    path = str(tmp_path / "features")
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.__call__}
    )

    def direct(videos):
        return module(tf.constant(videos)).numpy()

    real, generated = _videos(3, 16), _videos(4, 16, scale=0.7, size=6)
    results = []
    for extractor in (path, direct):
        fvd = FrechetVideoDistance(extractor, input_size=(8, 8))
        if extractor is path:
            # Loaded on first use, not at construction.
            assert fvd.feature_extractor._function is None
        fvd.update_real(real)
        fvd.update_generated(generated)
        results.append(fvd.result())
    assert results[0] == pytest.approx(results[1], rel=1e-9)
    assert results[0] > 0.001


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="FVD needs an I3D"):
        FrechetVideoDistance(None)
    with pytest.raises(ValueError, match="No directory at"):
        FrechetVideoDistance(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="`input_size` must be"):
        FrechetVideoDistance(lambda v: v, input_size=224)
    fvd = FrechetVideoDistance(lambda v: v.mean(axis=(1, 2, 3)), (8, 8))
    with pytest.raises(ValueError, match="`videos` must be a 5-D"):
        fvd.update_real(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3"):
        fvd.update_real(np.zeros((2, 2, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"`videos` must hold float"):
        fvd.update_real(np.full((2, 2, 8, 8, 3), -0.5, "float32"))
    fvd.update_real(np.zeros((1, 2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="same dimension"):
        fvd.update_generated_features(np.zeros((3, 2)))
    fvd.update_generated_features(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least 2 real videos"):
        fvd.result()
    fvd = FrechetVideoDistance(lambda v: v[:, 0, 0], (8, 8))
    with pytest.raises(ValueError, match="must be a 2-D array"):
        fvd.update_real(np.zeros((2, 2, 8, 8, 3), "float32"))
