import numpy as np
import pytest

from keras_rin.metrics import FrechetInceptionDistance
from keras_rin.metrics import FrechetVideoDistance
from keras_rin.metrics import InceptionScore
from keras_rin.metrics import KernelInceptionDistance
from keras_rin.metrics import compute_image_metrics
from keras_rin.metrics import compute_video_metrics
from keras_rin.metrics import generated_image_batches
from keras_rin.metrics import generated_video_batches
from tests.metrics.conftest import random_images

NUM_SAMPLES = 40


def _batches(images, size=16):
    return [images[i : i + size] for i in range(0, len(images), size)]


@pytest.fixture(scope="module")
def image_sets():
    # 48 images each, of which the metrics take the first 40: batches of
    # 16, 16 and a last one cut to 8.
    return random_images(0, 48), random_images(1, 48, scale=0.7)


def _direct_results(extractor, real, generated):
    fid = FrechetInceptionDistance(extractor)
    kid = KernelInceptionDistance(extractor, subset_size=20)
    inception_score = InceptionScore(extractor)
    for batch in _batches(real[:NUM_SAMPLES]):
        fid.update_real(batch)
        kid.update_real(batch)
    for batch in _batches(generated[:NUM_SAMPLES]):
        fid.update_generated(batch)
        kid.update_generated(batch)
        inception_score.update(batch)
    return {
        "fid": fid.result(),
        **inception_score.result(),
        **kid.result(),
        "num_samples": NUM_SAMPLES,
    }


def test_equals_the_metrics_fed_directly(image_extractor, image_sets, capsys):
    real, generated = image_sets
    results = compute_image_metrics(
        iter(_batches(real)),
        _batches(generated),
        NUM_SAMPLES,
        feature_extractor=image_extractor,
        kid_subset_size=20,
        verbose=0,
    )
    assert capsys.readouterr().out == ""
    expected = _direct_results(image_extractor, real, generated)
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert results["fid"] > 0 and results["inception_score"] > 1


def test_accepts_a_tf_data_dataset_of_images_and_labels(
    image_extractor, image_sets, capsys
):
    tf = pytest.importorskip("tensorflow")
    real, generated = image_sets
    labels = np.arange(len(real)) % 3
    dataset = tf.data.Dataset.from_tensor_slices((real, labels)).batch(16)
    results = compute_image_metrics(
        dataset,
        [{"images": batch} for batch in _batches(generated)],
        NUM_SAMPLES,
        metrics=("fid", "kid"),
        feature_extractor=image_extractor,
        kid_subset_size=20,
    )
    assert "80/80" in capsys.readouterr().out
    expected = _direct_results(image_extractor, real, generated)
    assert set(results) == {"fid", "kid", "kid_std", "num_samples"}
    for key in ("fid", "kid", "kid_std"):
        assert results[key] == pytest.approx(expected[key], rel=1e-6), key


def test_inception_score_alone_needs_no_real_images(image_extractor):
    generated = random_images(2, 16)
    results = compute_image_metrics(
        None,
        [generated[:10], generated[10:]],
        16,
        metrics="is",
        feature_extractor=image_extractor,
        verbose=0,
    )
    expected = InceptionScore(image_extractor)
    expected.update(generated[:10])
    expected.update(generated[10:])
    assert results == {**expected.result(), "num_samples": 16}


def test_bad_arguments(image_extractor):
    images = random_images(3, 16)
    with pytest.raises(
        ValueError,
        match=r"`real` must yield at least num_samples=24 .*after 20",
    ):
        compute_image_metrics(
            [images, images[:4]],
            [images] * 3,
            24,
            feature_extractor=image_extractor,
            verbose=0,
        )
    with pytest.raises(ValueError, match="`metrics` must be"):
        compute_image_metrics([images], [images], 8, metrics=("fid", "lpips"))
    with pytest.raises(ValueError, match="`real` is required"):
        compute_image_metrics(None, [images], 8, metrics=("fid",))
    with pytest.raises(ValueError, match="`num_samples` must be a positive"):
        compute_image_metrics([images], [images], 0)
    with pytest.raises(ValueError, match='"images" entry'):
        compute_image_metrics(
            [{"x": images}],
            [images],
            8,
            metrics=("fid",),
            feature_extractor=image_extractor,
        )


def test_video_metrics_equal_the_metric_fed_directly():
    rng = np.random.default_rng(0)
    real = rng.uniform(size=(12, 2, 6, 6, 1)).astype("float32")
    generated = (rng.uniform(size=(12, 2, 6, 6, 1)) * 0.5).astype("float32")

    def extractor(videos):
        return np.concatenate(
            [videos.mean(axis=(1, 2, 3)), videos.std(axis=(1, 2, 3))], axis=1
        )

    results = compute_video_metrics(
        [(real[:8], None), (real[8:], None)],
        [generated[:5], generated[5:]],
        10,
        extractor,
        input_size=(4, 4),
        verbose=0,
    )
    fvd = FrechetVideoDistance(extractor, input_size=(4, 4))
    fvd.update_real(real[:10])
    fvd.update_generated(generated[:10])
    assert results == {
        "fvd": pytest.approx(fvd.result(), rel=1e-6),
        "num_samples": 10,
    }
    with pytest.raises(ValueError, match="FVD needs an I3D"):
        compute_video_metrics([real], [generated], 4, None)


class _FakeGenerator:
    """Records the `generate` calls of `generated_image_batches`."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.calls = []

    def generate(self, num_images, labels, seed, verbose, **kwargs):
        self.calls.append(
            dict(num_images=num_images, labels=labels, seed=seed, **kwargs)
        )
        assert verbose == 0
        return np.full((num_images, 8, 8, 3), 0.5, "float32")


def test_generated_image_batches_labels_and_seeds():
    model = _FakeGenerator(num_classes=3)
    batches = list(
        generated_image_batches(model, 10, 4, labels="uniform", num_steps=7)
    )
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [c["labels"] for c in model.calls] == [
        [0, 1, 2, 0],
        [1, 2, 0, 1],
        [2, 0],
    ]
    assert all(c["num_steps"] == 7 for c in model.calls)
    seeds = [c["seed"] for c in model.calls]
    assert len(set(seeds)) == 3
    again = _FakeGenerator(num_classes=3)
    list(generated_image_batches(again, 10, 4, labels=np.arange(10) % 2))
    assert [c["seed"] for c in again.calls] == seeds
    assert again.calls[2]["labels"] == [0, 1]
    unconditional = _FakeGenerator(num_classes=None)
    list(generated_image_batches(unconditional, 5, 5, seed=None))
    assert unconditional.calls == [dict(num_images=5, labels=None, seed=None)]
    with pytest.raises(ValueError, match="labels='uniform'"):
        next(generated_image_batches(model, 10, 4))
    with pytest.raises(ValueError, match="unconditional"):
        next(generated_image_batches(unconditional, 10, 4, labels="uniform"))
    with pytest.raises(ValueError, match="num_samples=10 ints"):
        next(generated_image_batches(model, 10, 4, labels=[0, 1]))
    with pytest.raises(ValueError, match=r"\[0, num_classes=3\)"):
        next(generated_image_batches(model, 2, 4, labels=[0, 3]))


def test_generated_video_batches_passes_contexts_labels_and_seeds():
    calls = []

    class Predictor:
        def generate(self, context_frames, labels, seed, verbose):
            calls.append((context_frames.shape, labels, seed))
            return context_frames

    contexts = np.zeros((3, 1, 4, 4, 3), "float32")
    out = list(
        generated_video_batches(
            Predictor(), [contexts, (contexts[:1], [2])], seed=5
        )
    )
    assert [len(v) for v in out] == [3, 1]
    assert calls[0][:2] == ((3, 1, 4, 4, 3), None)
    assert calls[1][1].tolist() == [2]
    assert calls[0][2] != calls[1][2]
