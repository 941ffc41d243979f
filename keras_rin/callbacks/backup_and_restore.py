import os

import keras
import numpy as np

from keras_rin.callbacks.epoch_schedule import finite_loss

SEED_STATES_FILE = "seed_states.npz"


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore` that never replaces a good backup with
    non-finite weights.

    The backup holds what a resumed run needs: the raw weights, the
    optimizer state (moments, step counter, EMA of the weights) and the
    states of the model's random generators (which Keras' callback does
    not keep: a resumed run would draw other noise and dropout masks).
    Start the interrupted run again with the same command and `fit`
    continues from the start of the epoch after the last backup.

    With `keras.callbacks.TerminateOnNaN`, the epoch that diverged ends
    early; Keras' callback would then back up the diverged weights and
    delete the backup when `fit` returns, this one keeps the last good
    backup.

    Args:
        backup_dir: str, where the backup lives.
        save_freq: `"epoch"` (the default: resuming restarts an epoch
            exactly) or an int number of batches.
        delete_checkpoint: bool, delete the backup when training ends.
        double_checkpoint: bool, keep the previous backup too, in case the
            newest is corrupted by an interruption while it is written.

    Example:
    ```python
    backup = keras_rin.callbacks.BackupAndRestore("runs/cifar10/backup")
    model.fit(dataset, epochs=100, steps_per_epoch=1000, callbacks=[backup])
    ```
    """

    def __init__(
        self,
        backup_dir,
        save_freq="epoch",
        delete_checkpoint=True,
        double_checkpoint=True,
    ):
        super().__init__(
            backup_dir,
            save_freq=save_freq,
            delete_checkpoint=delete_checkpoint,
            double_checkpoint=double_checkpoint,
        )
        self._diverged = False

    def on_train_begin(self, logs=None):
        self._diverged = False
        super().on_train_begin(logs)

    def on_train_batch_end(self, batch, logs=None):
        self._diverged = self._diverged or not finite_loss(logs)
        if not self._diverged:
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._diverged = self._diverged or not finite_loss(logs)
        if self._diverged:
            # Keep the counters right, but do not write the weights.
            self._current_epoch = epoch + 1
            self._last_batch_seen = 0
            return
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        super()._save_model()
        # `save_weights` leaves out the states of the random generators;
        # without them a resumed run would draw other noise and dropout.
        path = os.path.join(self.backup_dir, SEED_STATES_FILE)
        partial = path + ".partial.npz"
        np.savez(partial, **_seed_states(self.model))
        os.replace(partial, path)

    def _load_model(self):
        super()._load_model()
        path = os.path.join(self.backup_dir, SEED_STATES_FILE)
        if os.path.exists(path):
            with np.load(path) as saved:
                for name, variable in _seed_variables(self.model).items():
                    if name in saved:
                        variable.assign(saved[name])

    def on_train_end(self, logs=None):
        # After a divergence the last good backup stays, so the run can
        # resume from it (with a lower learning rate, say).
        if not self._diverged:
            super().on_train_end(logs)


def _seed_variables(model):
    # Keyed by position: the paths carry process-wide counters
    # (`seed_generator_4/...`) that differ between two equal models.
    seeds = [
        variable
        for variable in model.variables
        if variable.path.endswith("seed_generator_state")
    ]
    return {f"seed_{index}": variable for index, variable in enumerate(seeds)}


def _seed_states(model):
    return {
        name: keras.ops.convert_to_numpy(variable)
        for name, variable in _seed_variables(model).items()
    }
