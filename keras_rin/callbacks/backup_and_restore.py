import json
import os
import re
import shutil
import warnings

import keras
import numpy as np

from keras_rin.callbacks.epoch_schedule import finite_loss
from keras_rin.models import lora
from keras_rin.utils import files

WEIGHTS_FILE = "model.weights.h5"
TRAINING_METADATA_FILE = "training_metadata.json"
SEED_STATES_FILE = "seed_states.npz"
BACKUP_FILES = (WEIGHTS_FILE, TRAINING_METADATA_FILE, SEED_STATES_FILE)
_BACKUP_NAME = re.compile(r"^backup-(\d+)$")


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore` with atomic backups that never replaces a
    good backup with non-finite weights.

    A backup holds what a resumed run needs: the raw weights, the
    optimizer state (moments, step counter, EMA of the weights), the
    epoch, and the states of the model's random generators (which Keras'
    callback does not keep: a resumed run would draw other noise and
    dropout masks). Of a LoRA fine-tune (`backbone.enable_lora`) it keeps
    the frozen kernels and the LoRA weights apart, which Keras' weights
    files merge: enable LoRA the same way before the run resumes. Start
    the interrupted run again with the same command and `fit` continues
    from the start of the epoch after the last backup.

    Each backup is a directory `<backup_dir>/backup-<n>` written whole in
    a hidden staging directory and renamed into place, so a run killed at
    any point (even inside a backup) restarts from the last complete one.
    A backup that cannot be read (a disk error) is skipped with a warning
    for the one before it. Before it writes, the callback checks that the
    disk has room (an `OSError` otherwise: HDF5 can crash the process when
    a write fails).

    With `keras.callbacks.TerminateOnNaN`, the epoch that diverged ends
    early; Keras' callback would then back up the diverged weights and
    delete the backup when `fit` returns, this one keeps the last good
    backup.

    Args:
        backup_dir: str, where the backups live (a directory for this run
            only).
        save_freq: `"epoch"` (the default: resuming restarts an epoch
            exactly) or an int number of batches.
        delete_checkpoint: bool, delete the backups when training ends.
        double_checkpoint: bool, keep the previous backup too. An
            interruption can no longer corrupt the newest backup; the
            previous one is a fallback should the newest be unreadable
            (a disk error), for twice the disk space.

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
        if not isinstance(backup_dir, (str, os.PathLike)):
            raise ValueError(
                "`backup_dir` must be a path string. Received: "
                f"backup_dir={backup_dir!r}"
            )
        super().__init__(
            os.fspath(backup_dir),
            save_freq=save_freq,
            delete_checkpoint=delete_checkpoint,
            double_checkpoint=double_checkpoint,
        )
        self._diverged = False

    def backups(self):
        """The directories of the complete backups, newest first.

        Returns:
            A list of str paths (`<backup_dir>/backup-<n>`).
        """
        if not os.path.isdir(self.backup_dir):
            return []
        numbered = []
        for name in os.listdir(self.backup_dir):
            match = _BACKUP_NAME.match(name)
            if match:
                numbered.append((int(match.group(1)), name))
        return [
            os.path.join(self.backup_dir, name)
            for _, name in sorted(numbered, reverse=True)
        ]

    def on_train_begin(self, logs=None):
        self._diverged = False
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, the model must be "
                "built before you call `fit()`. Build it by calling it on "
                f"a batch of data. Received an unbuilt model: {self.model}"
            )
        backups = self.backups()
        if backups:
            self._restore_newest(backups)

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

    def on_train_end(self, logs=None):
        # After a divergence the last good backup stays, so the run can
        # resume from it (with a lower learning rate, say).
        if not self._diverged:
            super().on_train_end(logs)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        files.remove_stale_staging(self.backup_dir)
        backups = self.backups()
        number = 1 + (_backup_number(backups[0]) if backups else 0)
        target = os.path.join(self.backup_dir, f"backup-{number:06d}")
        files.check_room(
            self.backup_dir,
            files.expected_weights_file_size(self._saved_variables()),
            f"a backup of the training state ({target})",
        )
        staging = files.make_staging_directory(target)
        try:
            _write_backup(self, staging)
            files.publish_directory(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        keep = 2 if self.double_checkpoint else 1
        for old in self.backups()[keep:]:
            files.discard_directory(old)

    def _saved_variables(self):
        optimizer = getattr(self.model, "optimizer", None)
        extra = optimizer.variables if optimizer is not None else []
        return list(self.model.weights) + list(extra)

    def _restore_newest(self, backups):
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            # The optimizer's variables must exist to receive their values.
            optimizer.build(self.model.trainable_variables)
        initial = _values(self._saved_variables())
        for path in backups:
            try:
                _restore_backup(self.model, path)
                return
            except Exception as error:  # noqa: BLE001 - any unreadable file
                warnings.warn(
                    f"Skipping the backup {path}: it cannot be restored "
                    f"({type(error).__name__}: {error}). Trying an older "
                    "one.",
                    stacklevel=3,
                )
        _assign(self._saved_variables(), initial)
        warnings.warn(
            f"No backup in {self.backup_dir} could be restored: training "
            "starts from the beginning.",
            stacklevel=3,
        )


def _write_backup(callback, directory):
    """Writes the weights, the epoch and the seed states to `directory`."""
    files.save_weights_file(
        callback.model, os.path.join(directory, WEIGHTS_FILE)
    )
    _write_training_metadata(
        os.path.join(directory, TRAINING_METADATA_FILE),
        {"epoch": callback._current_epoch, "batch": callback._last_batch_seen},
    )
    # `save_weights` leaves out the states of the random generators
    # (without them a resumed run would draw other noise and dropout), and
    # merges LoRA's products into their frozen kernels.
    with open(os.path.join(directory, SEED_STATES_FILE), "wb") as file:
        np.savez(
            file,
            **_seed_states(callback.model),
            **lora.unmerged_states(callback.model),
        )


def _write_training_metadata(path, metadata):
    with open(path, "w") as file:
        json.dump(metadata, file)


def _restore_backup(model, directory):
    missing = [
        name
        for name in BACKUP_FILES
        if not os.path.isfile(os.path.join(directory, name))
    ]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    with open(os.path.join(directory, TRAINING_METADATA_FILE)) as file:
        epoch = int(json.load(file)["epoch"])
    with np.load(os.path.join(directory, SEED_STATES_FILE)) as saved:
        seed_states = {name: saved[name] for name in saved.files}
    model.load_weights(os.path.join(directory, WEIGHTS_FILE))
    for name, variable in _seed_variables(model).items():
        if name in seed_states:
            variable.assign(seed_states[name])
    if lora.lora_layers(model) or any(
        name.startswith("lora_") for name in seed_states
    ):
        lora.assign_unmerged_states(
            model, seed_states, f"the backup {directory}"
        )
    model._initial_epoch = epoch


def _backup_number(path):
    return int(_BACKUP_NAME.match(os.path.basename(path)).group(1))


def _values(variables):
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def _assign(variables, values):
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


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
