"""`export_sampler`: a TensorFlow SavedModel with the sampling loop inside,
reloaded with `tf.saved_model.load` (no Keras), gives `generate`'s
samples for the same seed; PyTorch says how to export instead. (An
unconditional model's export: tests/test_cli.py, through the command.)"""

import keras
import numpy as np
import pytest

import keras_rin
from keras_rin.utils import seeds
from tests.helpers import randomize
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone

EXPORTS = keras.config.backend() in ("jax", "tensorflow")
needs_export = pytest.mark.skipif(
    not EXPORTS, reason="SavedModel export runs from JAX and TensorFlow"
)


def _loaded(path):
    """The SavedModel, loaded by TensorFlow alone (keep it alive while its
    functions run: they use its variables)."""
    import tensorflow as tf

    return tf.saved_model.load(str(path))


def _seed(seed):
    """The served seed of `generate(seed=seed)`: its first batch's."""
    import tensorflow as tf

    return tf.constant(seeds.batch_seed(seed, 0), tf.int32)


def _generator(**kwargs):
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone()
    randomize(backbone)
    return keras_rin.RINImageGenerator(backbone, **kwargs)


@needs_export
def test_a_served_sampler_draws_the_images_of_generate(tmp_path):
    import tensorflow as tf

    model = _generator(label_dropout_rate=0.1)
    # DDPM draws noise at every step inside the loop; guidance on part of
    # the steps switches the stream count in the middle.
    options = dict(
        num_steps=4,
        sampler="ddpm",
        guidance_scale=2.0,
        guidance_interval=(0.3, 0.8),
    )
    path = model.export_sampler(tmp_path / "sampler", **options)
    loaded = _loaded(path)
    labels = np.array([0, 2, 1], "int32")
    images = loaded.serve(tf.constant(labels), _seed(7))["images"].numpy()
    expected = model.generate(labels=labels, seed=7, verbose=0, **options)
    assert images.shape == (3, 8, 8, 1)
    np.testing.assert_allclose(images, expected, atol=1e-5)
    # Any batch size, and another seed gives other images.
    other = loaded.serve(tf.constant([2], tf.int32), _seed(8))["images"].numpy()
    assert other.shape == (1, 8, 8, 1)
    assert np.abs(other[0] - images[1]).max() > 1e-3


@needs_export
def test_a_served_frame_predictor_continues_the_clips_as_generate(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    backbone = tiny_video_backbone()
    randomize(backbone)
    model = keras_rin.RINVideoPredictor(backbone, num_context_frames=2)
    context = np.random.default_rng(0).uniform(size=(2, 2, 8, 8, 3))
    context = context.astype("float32")
    path = model.export_sampler(tmp_path / "video", num_steps=3)
    loaded = _loaded(path)
    clips = loaded.serve(tf.constant(context), _seed(1))["frames"].numpy()
    expected = model.generate(context, num_steps=3, seed=1, verbose=0)
    assert clips.shape == (2, 4, 8, 8, 3)
    np.testing.assert_allclose(clips, expected, atol=1e-5)


@pytest.mark.skipif(EXPORTS, reason="PyTorch's message")
def test_pytorch_says_where_to_export_from(tmp_path):
    model = _generator()
    with pytest.raises(NotImplementedError, match="JAX or TensorFlow"):
        model.export_sampler(tmp_path / "s")


@needs_export
@pytest.mark.parametrize(
    "conditional, kwargs, match",
    [
        (True, dict(num_images=2), "`num_images`"),
        (False, dict(), "`num_images`"),
        (True, dict(path=None), "`path`"),
        (True, dict(num_steps=0), "`num_steps`"),
        (True, dict(sampler="euler"), "`sampler`"),
    ],
)
def test_bad_export_arguments_raise_a_clear_error(
    conditional, kwargs, match, tmp_path
):
    backbone = tiny_backbone(num_classes=3 if conditional else None)
    model = keras_rin.RINImageGenerator(backbone)
    kwargs = {"path": str(tmp_path / "s"), **kwargs}
    with pytest.raises(ValueError, match=match):
        model.export_sampler(**kwargs)
