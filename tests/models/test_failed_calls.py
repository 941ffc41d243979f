"""A `fit` that fails leaves the model as usable as before (issue 18).

Bad data is refused with a `ValueError` that names the argument before
Keras builds its step; an error inside the step (simulated here by a
`compute_loss` that raises) gives the model its state back. After either,
the same model fits, generates and saves.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_rin
from keras_rin.models import data_checks
from tests.helpers import assert_weights_equal
from tests.helpers import tiny_backbone
from tests.helpers import toy_images

IMAGES, LABELS = toy_images(8)


def _model(num_classes=3, use_ema=False):
    model = keras_rin.RINImageGenerator(
        tiny_backbone(num_classes=num_classes), seed=0
    )
    # XLA adds nothing to what is tested here but most of TensorFlow's time.
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3, use_ema=use_ema),
        jit_compile=keras.config.backend() == "jax",
    )
    return model


@pytest.fixture(scope="module")
def models():
    return {"conditional": _model(), "unconditional": _model(None)}


def _stream(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _generator(scale):
    for start in (0, 4):
        yield IMAGES[start : start + 4] * scale, LABELS[start : start + 4]


class _Batches(keras.utils.PyDataset):
    def __init__(self, labels):
        super().__init__()
        self.labels = labels

    @property
    def num_batches(self):
        return 2

    def __getitem__(self, index):
        batch = slice(4 * index, 4 * index + 4)
        return IMAGES[batch], self.labels[batch]


# (model, the arguments of `fit` as a function, what the error says)
BAD_FITS = {
    "dict_key": (
        "conditional",
        lambda: ({"image": IMAGES, "labels": LABELS},),
        r"`x` as a dict must have the key 'images'",
    ),
    "unbatched_dataset": (
        "conditional",
        lambda: (_stream(IMAGES, LABELS),),
        r"first batch of `x` \(a tf\.data\.Dataset\).*single example of "
        r"shape \(8, 8, 1\).*\.batch\(",
    ),
    "empty_arrays": (
        "conditional",
        lambda: (IMAGES[:0], LABELS[:0]),
        r"`x` must hold at least one example. Received shape \(0, 8, 8, 1\)",
    ),
    "labels_in_x_and_y": (
        "conditional",
        lambda: ({"images": IMAGES, "labels": LABELS}, LABELS),
        r"either inside `x` .* or as `y`, not both",
    ),
    "labels_for_unconditional": (
        "unconditional",
        lambda: (IMAGES, LABELS),
        r"`y` must be None: this model is unconditional",
    ),
    "labels_in_dict_for_unconditional": (
        "unconditional",
        lambda: ({"images": IMAGES, "labels": LABELS},),
        r"`x\['labels'\]` must be None: this model is unconditional",
    ),
    "dataset_labels_out_of_range": (
        "conditional",
        lambda: (_stream(IMAGES, LABELS + 3).batch(4),),
        r"first batch of `x` \(a tf\.data\.Dataset\).*`labels` must be in "
        r"\[0, 3\)",
    ),
    "dataset_pixels_in_0_255": (
        "conditional",
        lambda: (_stream(IMAGES * 255, LABELS).batch(4),),
        r"first batch of `x` \(a tf\.data\.Dataset\).*pixel values in "
        r"\[0, 1\]",
    ),
    "dataset_without_labels": (
        "conditional",
        lambda: (tf.data.Dataset.from_tensor_slices(IMAGES).batch(4),),
        r"first batch of `x` .*`labels` is required",
    ),
    "generator_pixels_in_0_255": (
        "conditional",
        lambda: (_generator(255.0),),
        r"first batch of `x` \(a generator\).*pixel values in \[0, 1\]",
    ),
    "py_dataset_labels_out_of_range": (
        "conditional",
        lambda: (_Batches(LABELS - 1),),
        r"first batch of `x` \(a keras.utils.PyDataset\).*`labels` must be "
        r"in \[0, 3\)",
    ),
}


def _fit(model, *data):
    return model.fit(*data, batch_size=4, epochs=1, verbose=0)


def _assert_usable(model, path, reload=False):
    """The model fits, generates and saves after the failed call (and
    loads back from the preset, with `reload`)."""
    labels = LABELS[:4] if model.num_classes else None
    history = _fit(model, IMAGES[:4], labels)
    assert np.all(np.isfinite(history.history["loss"]))
    images = model.generate(
        num_images=1,
        labels=None if labels is None else labels[:1],
        num_steps=2,
        seed=0,
        verbose=0,
    )
    assert images.shape == (1, 8, 8, 1) and np.all(np.isfinite(images))
    model.save_to_preset(os.fspath(path))
    if reload:
        loaded = type(model).from_preset(os.fspath(path))
        assert_weights_equal(loaded, model)


@pytest.mark.parametrize("case", list(BAD_FITS))
def test_bad_fit_data_raises_and_leaves_the_model_usable(
    models, case, tmp_path
):
    name, data, match = BAD_FITS[case]
    model = models[name]
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        _fit(model, *data())
    for got, expected in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, expected)
    _assert_usable(model, tmp_path / case)


def test_labels_as_python_lists_train(models):
    model = models["conditional"]
    assert np.isfinite(_fit(model, IMAGES, list(LABELS)).history["loss"][0])
    inputs = {"images": IMAGES, "labels": LABELS.tolist()}
    x, _ = data_checks.check_training_data(model, inputs, None)
    np.testing.assert_array_equal(x["labels"], LABELS)


def test_a_good_generator_trains_from_its_first_batch(models):
    history = models["conditional"].fit(_generator(1.0), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


class _StepError(Exception):
    pass


def _raising(error):
    def compute_loss(*args, **kwargs):
        raise error("the step failed")

    return compute_loss


def _raising_on_small_batches(compute_loss):
    """`compute_loss` that fails on batches of fewer than 4 examples: in
    the trace of their new shape on JAX, at run time on TensorFlow (whose
    step has an unknown batch size), in the step on PyTorch."""

    def checked(x, y, y_pred, sample_weight=None, training=True):
        batch_size = y_pred["prediction"].shape[0]
        if keras.config.backend() == "tensorflow":
            tf.debugging.assert_equal(tf.shape(y_pred["prediction"])[0], 4)
        elif batch_size != 4:
            raise _StepError("the step failed")
        return compute_loss(x, y, y_pred, sample_weight, training=training)

    return checked


def test_failed_first_steps_leave_a_fresh_model_as_it_was(
    tmp_path, monkeypatch
):
    # A fresh model: on JAX the first step holds every value, and on
    # TensorFlow a failed trace is the train function's first call.
    model = _model(use_ema=True)
    before = model.get_weights()
    for error in (KeyboardInterrupt, _StepError):
        monkeypatch.setattr(model, "compute_loss", _raising(error))
        with pytest.raises(error):
            _fit(model, IMAGES, LABELS)
        with pytest.raises(error):
            model.evaluate(IMAGES, LABELS, verbose=0)
        monkeypatch.undo()
    for got, expected in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, expected)
    _assert_usable(model, tmp_path / "preset", reload=True)


def test_a_failed_later_step_keeps_the_steps_that_ran(
    models, tmp_path, monkeypatch
):
    model = models["conditional"]
    _fit(model, IMAGES, LABELS)
    trained = model.get_weights()
    monkeypatch.setattr(
        model, "compute_loss", _raising_on_small_batches(model.compute_loss)
    )
    model.make_train_function(force=True)  # a trace of the failing loss
    with pytest.raises((_StepError, tf.errors.InvalidArgumentError)):
        model.fit(
            IMAGES[:7], LABELS[:7], batch_size=4, shuffle=False, verbose=0
        )
    monkeypatch.undo()
    model.make_train_function(force=True)
    assert any(
        not np.array_equal(got, expected)
        for got, expected in zip(model.get_weights(), trained, strict=True)
    )  # the first step ran
    _assert_usable(model, tmp_path / "preset", reload=True)
