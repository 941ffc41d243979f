import os

import keras

from keras_rin.callbacks.epoch_schedule import is_due
from keras_rin.utils import validation


class PresetCheckpoint(keras.callbacks.Callback):
    """Saves the model as a preset, from the EMA weights, every few epochs.

    A preset written mid-training is what a person samples, evaluates or
    shares, so it holds the EMA of the weights when the optimizer keeps one
    (as the official RIN evaluates its EMA checkpoints). Each save is
    atomic: an interrupted save never leaves a half-written preset. To
    resume an interrupted run, use `keras_rin.callbacks.BackupAndRestore` as
    well: it keeps the raw weights and the optimizer state, which a preset
    does not.

    Args:
        directory: str, the preset directory; `{epoch}` is replaced by the
            1-based epoch number to keep every checkpoint, otherwise the
            preset is replaced each time.
        every_n_epochs: int, save after every n-th epoch (and after the
            last one).
        description: str or None, the preset's description.
        verbose: 0 or 1, print the directory of each save.

    Example:
    ```python
    checkpoint = keras_rin.callbacks.PresetCheckpoint("runs/cifar10/latest")
    model.fit(dataset, epochs=100, callbacks=[checkpoint])
    model = keras_rin.RINImageGenerator.from_preset("runs/cifar10/latest")
    ```
    """

    def __init__(
        self, directory, every_n_epochs=1, description=None, verbose=1
    ):
        super().__init__()
        validation.check_positive_int("every_n_epochs", every_n_epochs)
        self.directory = os.fspath(directory)
        self.every_n_epochs = every_n_epochs
        self.description = description
        self.verbose = verbose
        self.last_directory = None

    def on_epoch_end(self, epoch, logs=None):
        if not is_due(self, epoch, logs):
            return
        self.last_directory = self.directory.format(epoch=epoch + 1)
        with self.model.ema_weights():
            self.model.save_to_preset(self.last_directory, self.description)
        if self.verbose:
            print(
                f"\nEpoch {epoch + 1}: saved the EMA weights as a preset "
                f"to {self.last_directory}"
            )
