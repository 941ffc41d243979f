"""The EMA of the weights across `fit` calls, and interrupted runs that
resume to the same weights as uninterrupted ones."""

import os
import shutil

import keras
import numpy as np
import pytest

import keras_rin
from tests.helpers import tiny_backbone
from tests.helpers import toy_images

IMAGES, LABELS = toy_images(16)
FIT = dict(batch_size=8, shuffle=False, verbose=0)


def _model(ema_momentum=0.5):
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(dropout_rate=0.1)
    model = keras_rin.RINImageGenerator(backbone, seed=1)
    recipe = keras_rin.training.TrainingRecipe(
        learning_rate=1e-2,
        total_steps=6,
        warmup_steps=1,
        batch_size=8,
        ema_momentum=ema_momentum,
    )
    # TensorFlow spends about 30 s tracing each new model's step; these few
    # steps run faster eagerly, and the EMA and backup logic is the same.
    eager = keras.config.backend() == "tensorflow"
    model.compile(optimizer=recipe.build_optimizer(), run_eagerly=eager)
    return model


def _values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def _max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


def _state(model):
    """Everything a resumed run must restore: the weights (seed states
    included) and the optimizer's variables (step, moments, EMA)."""
    return _values(model.weights) + _values(model.optimizer.variables)


@pytest.fixture(scope="module")
def two_epochs():
    """The reference: one uninterrupted `fit` of two epochs (compiling a
    model is the slow part of these tests, so they share it)."""
    model = _model()
    model.fit(IMAGES, LABELS, epochs=2, **FIT)
    return model


class _EMASpy(keras.callbacks.Callback):
    """Records the weights inside and around `ema_weights()` mid-fit."""

    seen = {}

    def on_epoch_end(self, epoch, logs=None):
        model, seen = self.model, self.seen
        seen["raw"] = _values(model.trainable_variables)
        with model.ema_weights():
            seen["inside"] = _values(model.trainable_variables)
            seen["averages"] = _values(
                model.optimizer._model_variables_moving_average
            )
        seen["after"] = _values(model.trainable_variables)


def test_fit_leaves_the_ema_and_a_second_fit_continues_from_raw(
    two_epochs, tmp_path
):
    twice = _model()
    spy = _EMASpy()
    checkpoint = keras_rin.callbacks.PresetCheckpoint(
        tmp_path / "checkpoint", verbose=0
    )
    twice.fit(IMAGES, LABELS, epochs=1, callbacks=[spy, checkpoint], **FIT)
    # The checkpoint written mid-fit holds the EMA weights.
    saved = keras_rin.RINImageGenerator.from_preset(tmp_path / "checkpoint")
    assert (
        _max_difference(
            _values(saved.trainable_variables), spy.seen["averages"]
        )
        == 0
    )
    # Mid-fit, `ema_weights()` swaps the averages in, and back out.
    assert _max_difference(spy.seen["inside"], spy.seen["averages"]) == 0
    assert _max_difference(spy.seen["inside"], spy.seen["raw"]) > 1e-4
    assert _max_difference(spy.seen["after"], spy.seen["raw"]) == 0
    averages = twice.optimizer._model_variables_moving_average
    assert _max_difference(
        _values(twice.trainable_variables), _values(averages)
    ) == pytest.approx(0.0)
    assert twice._raw_weights.holds_ema
    raw = _values(twice._raw_weights._raw)
    assert _max_difference(raw, _values(averages)) > 1e-4
    path = str(tmp_path / "ema.weights.h5")
    twice.save_weights(path)
    twice.fit(IMAGES, LABELS, epochs=1, **FIT)
    # Two calls of one epoch each train exactly like one call of two: the
    # second call started from the raw weights, not from the EMA.
    assert _max_difference(_state(two_epochs), _state(twice)) < 1e-6

    # Weights loaded after `fit` are kept: the next `fit` starts from them.
    twice.load_weights(path)
    loaded = _values(twice.trainable_variables)
    assert not twice._raw_weights.holds_ema
    twice._raw_weights.restore(twice)
    assert _max_difference(_values(twice.trainable_variables), loaded) == 0


def test_ema_weights_without_an_ema_is_a_no_op():
    model = keras_rin.RINImageGenerator(tiny_backbone(), seed=1)
    model.compile(optimizer="adam")
    before = _values(model.trainable_variables)
    with model.ema_weights():
        inside = _values(model.trainable_variables)
    assert _max_difference(before, inside) == 0.0


class _Interrupt(keras.callbacks.Callback):
    """Kills the run in the middle of an epoch, as a preempted job."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            raise KeyboardInterrupt("preempted")


def test_an_interrupted_run_resumes_to_the_same_weights(two_epochs, tmp_path):
    epochs = 2
    backup = tmp_path / "b"
    interrupted = _model()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(
            IMAGES,
            LABELS,
            epochs=epochs,
            callbacks=[
                keras_rin.callbacks.BackupAndRestore(backup),
                _Interrupt(epoch=1, batch=0),
            ],
            **FIT,
        )
    # A newer backup that a disk error left unreadable is skipped, with a
    # warning, for the last good one.
    (good,) = keras_rin.callbacks.BackupAndRestore(backup).backups()
    unreadable = backup / "backup-999999"
    shutil.copytree(good, unreadable)
    with open(unreadable / "model.weights.h5", "r+b") as file:
        file.truncate(2000)
    # A new process: a fresh model, other global seeds; everything that
    # matters comes from the backup.
    keras.utils.set_random_seed(123)
    resumed = _model()
    keras.utils.set_random_seed(456)
    with pytest.warns(UserWarning, match="Skipping the backup .*backup-999"):
        resumed.fit(
            IMAGES,
            LABELS,
            epochs=epochs,
            callbacks=[keras_rin.callbacks.BackupAndRestore(backup)],
            **FIT,
        )
    assert len(resumed.history.history["loss"]) == epochs - 1
    assert int(resumed.optimizer.iterations) == epochs * 2
    assert _max_difference(_state(two_epochs), _state(resumed)) < 1e-5
    assert not backup.exists()  # deleted once the run finished


def test_a_diverged_run_keeps_its_last_good_backup(tmp_path):
    model = _model()

    class Diverge(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                variable = self.model.trainable_variables[0]
                variable.assign(np.full(variable.shape, np.nan, "float32"))

    checkpoint = tmp_path / "checkpoint"
    backup = keras_rin.callbacks.BackupAndRestore(tmp_path / "backup")
    model.fit(
        IMAGES,
        LABELS,
        epochs=3,
        callbacks=[
            Diverge(),
            backup,
            keras.callbacks.TerminateOnNaN(),
            keras_rin.callbacks.PresetCheckpoint(
                str(checkpoint) + "_{epoch}", verbose=0
            ),
        ],
        **FIT,
    )
    assert (tmp_path / "checkpoint_1").is_dir()
    assert not (tmp_path / "checkpoint_2").exists()
    restored = _model()
    (newest,) = backup.backups()  # the epoch-0 backup, alone
    restored.load_weights(os.path.join(newest, "model.weights.h5"))
    weights = _values(restored.weights)
    assert all(np.all(np.isfinite(w)) for w in weights)


def test_sample_grid_refuses_a_video_model():
    from tests.helpers import tiny_video_backbone

    model = keras_rin.RINVideoPredictor(
        tiny_video_backbone(), num_context_frames=2
    )
    callback = keras_rin.callbacks.SampleGrid("samples.png")
    callback.set_model(model)
    with pytest.raises(ValueError, match="RINImageGenerator"):
        callback.on_train_begin()
