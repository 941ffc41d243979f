"""Callbacks for training RIN models with `fit`."""

from keras_rin.callbacks.backup_and_restore import BackupAndRestore
from keras_rin.callbacks.preset_checkpoint import PresetCheckpoint
from keras_rin.callbacks.sample_grid import SampleGrid

__all__ = ["BackupAndRestore", "PresetCheckpoint", "SampleGrid"]
