"""A process for the fault-injection tests: it trains with backups or
saves presets, and dies (`os._exit(DIED)`) at a chosen point of a write.

    python -m tests.faults.fault_run train <backup_dir> <result.npz> <point>
    python -m tests.faults.fault_run save <preset_dir> <point>
    python -m tests.faults.fault_run full <preset_dir> <backup_dir> <bytes>

The points are set by patching the library's writers here, in this
test-only process; `none` runs to the end.
"""

import os
import resource
import sys

import keras
import numpy as np

import keras_rin
from keras_rin.callbacks import backup_and_restore
from keras_rin.utils import files
from tests.helpers import tiny_backbone
from tests.helpers import toy_images

DIED = 17
EPOCHS = 4
IMAGES, LABELS = toy_images(16)
FIT = dict(batch_size=8, shuffle=False, verbose=0)
BACKUP_POINTS = (
    "weights_half_written",
    "after_weights",
    "after_metadata",
    "before_publish",
    "after_publish",
    "discarding",
)
SAVE_POINTS = (
    "weights_half_written",
    "before_publish",
    "between_renames",
    "before_removing_old",
)


def build_model(seed=0, compiled=True):
    """The tiny conditional generator (with dropout: seed states matter)."""
    keras.utils.set_random_seed(seed)
    model = keras_rin.RINImageGenerator(tiny_backbone(dropout_rate=0.1), seed=1)
    if compiled:
        recipe = keras_rin.training.TrainingRecipe(
            learning_rate=1e-2, total_steps=8, warmup_steps=1, batch_size=8
        )
        # TensorFlow traces a new model's step for long: these eight steps
        # run faster eagerly.
        eager = keras.config.backend() == "tensorflow"
        model.compile(optimizer=recipe.build_optimizer(), run_eagerly=eager)
    return model


def train(backup_dir):
    """`EPOCHS` epochs with backups; the final training state."""
    model = build_model()
    backup = keras_rin.callbacks.BackupAndRestore(backup_dir)
    model.fit(IMAGES, LABELS, epochs=EPOCHS, callbacks=[backup], **FIT)
    return [
        keras.ops.convert_to_numpy(v)
        for v in model.weights + model.optimizer.variables
    ]


def _die():
    sys.stdout.flush()
    os._exit(DIED)


def _after(module, name, hook):
    original = getattr(module, name)

    def patched(*args, **kwargs):
        result = original(*args, **kwargs)
        hook(*args, **kwargs)
        return result

    setattr(module, name, patched)


def _before(module, name):
    original = getattr(module, name)

    def patched(*args, **kwargs):
        _die()
        return original(*args, **kwargs)

    setattr(module, name, patched)


def _truncate_and_die(model, path):
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)
    _die()


def _die_in_discard():
    # Dies inside the deletion of an old backup, a file of it deleted.
    original = files.discard_directory

    def discard(path):
        files.shutil.rmtree = _remove_one_file_and_die
        original(path)

    files.discard_directory = discard


def _remove_one_file_and_die(path, **kwargs):
    os.remove(os.path.join(path, backup_and_restore.WEIGHTS_FILE))
    _die()


def _die_between_renames():
    rename = os.rename

    def patched(source, target):
        rename(source, target)
        if target.endswith(files.RETIRED_SUFFIX):
            _die()

    files.os.rename = patched


def inject(point):
    """Patches the writers so that this process dies at `point`."""
    if point == "weights_half_written":
        _after(files, "save_weights_file", _truncate_and_die)
    elif point == "after_weights":
        _before(backup_and_restore, "_write_training_metadata")
    elif point == "after_metadata":
        _before(backup_and_restore, "_seed_states")
    elif point == "before_publish":
        _before(files, "publish_directory")
    elif point == "after_publish":
        _after(files, "publish_directory", lambda *args: _die())
    elif point == "discarding":
        _die_in_discard()
    elif point == "between_renames":
        _die_between_renames()
    elif point == "before_removing_old":
        files.shutil.rmtree = lambda *args, **kwargs: _die()
    elif point == "loop":
        return
    elif point != "none":
        raise ValueError(f"Unknown fault point: {point}")


def save(preset_dir, point):
    """Saves model 1 over `preset_dir`, dying at `point`; `loop` saves
    models 1 and 0 in turn until killed."""
    models = [build_model(1, compiled=False), build_model(0, compiled=False)]
    inject(point)
    print("ready", flush=True)
    for turn in range(10**6 if point == "loop" else 1):
        models[turn % 2].save_to_preset(preset_dir)


def full(preset_dir, backup_dir, file_size_limit):
    """Saves a preset and a backup under a file-size limit (RLIMIT_FSIZE,
    in bytes): each prints the `OSError` it raises."""
    model = build_model(1)
    limit = int(file_size_limit)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        model.save_to_preset(preset_dir)
        print("preset saved")
    except OSError as error:
        print("preset OSError:", error)
    try:
        write_backup(model, backup_dir)
        print("backup saved")
    except OSError as error:
        print("backup OSError:", error)


def write_backup(model, backup_dir):
    """One backup of `model` (compiled), as at the end of an epoch."""
    model.optimizer.build(model.trainable_variables)
    backup = keras_rin.callbacks.BackupAndRestore(backup_dir)
    backup.set_model(model)
    backup.on_epoch_end(0)


def main(mode, *args):
    if mode == "train":
        backup_dir, result, point = args
        inject(point)
        np.savez(result, *train(backup_dir))
    elif mode == "save":
        save(*args)
    elif mode == "full":
        full(*args)
    sys.stdout.flush()


if __name__ == "__main__":
    main(*sys.argv[1:])
