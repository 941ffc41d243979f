import keras
import numpy as np
import pytest

from keras_rin.metrics import InceptionFeatureExtractor
from keras_rin.metrics.inception_feature_extractor import preprocess_images


def test_preprocessing_resizes_repeats_grey_and_scales():
    grey = np.random.default_rng(0).uniform(size=(2, 5, 7, 1))
    grey = grey.astype("float32")
    inputs = keras.ops.convert_to_numpy(preprocess_images(grey, 12))
    assert inputs.shape == (2, 12, 12, 3)
    np.testing.assert_array_equal(inputs[..., 0], inputs[..., 2])
    rgb = keras.ops.convert_to_numpy(
        preprocess_images(np.repeat(grey, 3, axis=-1), 12)
    )
    np.testing.assert_allclose(inputs, rgb, atol=1e-6)
    assert -1.0 <= inputs.min() < inputs.max() <= 1.0
    constant = np.full((1, 5, 7, 3), 0.25, "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(preprocess_images(constant, 12)),
        -0.5,
        atol=1e-6,
    )


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="Building a random InceptionV3 and running it costs ~10 s on 2 "
    "CPU cores under JAX (one compiled initialiser per weight shape) and "
    "PyTorch (slow CPU convolutions); one backend covers the wrapper, whose "
    "compiled call is keras_rin.utils' shared one.",
)
def test_random_network_shapes_chunks_and_uint8_grey_input():
    with pytest.warns(UserWarning, match="meaningless"):
        extractor = InceptionFeatureExtractor(
            weights=None, image_size=75, batch_size=2
        )
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(3, 8, 8, 1), dtype="uint8")
    # Two chunks of 2, the last one padded: one compiled shape.
    outputs = extractor(grey)
    assert outputs["pool"].shape == (3, 2048)
    assert outputs["logits"].shape == (3, 1000)
    assert outputs["pool"].dtype == "float32"
    assert np.all(np.isfinite(outputs["pool"]))
    assert not np.allclose(outputs["pool"][0], outputs["pool"][1])
    # The same shape again, as float in [0, 1].
    last_two = extractor(grey[1:].astype("float32") / 255.0)
    for key in ("pool", "logits"):
        np.testing.assert_allclose(
            last_two[key], outputs[key][1:], rtol=1e-4, atol=1e-5
        )


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="No file at: weights="):
        InceptionFeatureExtractor(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match='`weights` must be "imagenet"'):
        InceptionFeatureExtractor(weights=3)
    with pytest.raises(ValueError, match="`image_size` must be 299"):
        InceptionFeatureExtractor(image_size=128)
    with pytest.raises(ValueError, match="`image_size` must be at least 75"):
        InceptionFeatureExtractor(weights=None, image_size=32)


def test_failed_download_names_the_file(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    with pytest.raises(
        RuntimeError,
        match="(?s)no network.*inception_v3_weights_tf_dim_ordering_tf_kernels"
        r"\.h5.*weights=path",
    ):
        InceptionFeatureExtractor()
