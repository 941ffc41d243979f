"""Fault injection: processes killed inside a preset save, and saves onto
a full disk. Whatever the point of death, a preset always loads (the old
one or the new one) with no temporary directory left beside it; a full
disk gives an `OSError` and keeps the old saves.

The processes run `tests/faults/fault_run.py`, which dies at a chosen point
by patching the library's writers.
"""

import os
import random
import signal
import time

import keras
import numpy as np
import pytest

import keras_rin
from tests.faults import fault_run
from tests.faults import finish
from tests.faults import start_fault_process

# Each process pays the imports of Keras and a backend: slow.
pytestmark = pytest.mark.large


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def _same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# A killed save leaves what the file system and Keras' HDF5 writer left,
# the same on every backend: one backend runs the killing (a process per
# point is slow). Backups and the full disk run on all three.
one_backend = pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="the save path is backend-independent: run once, on PyTorch "
    "(its processes start fastest)",
)


@pytest.fixture
def old_preset(tmp_path):
    """A preset of model 0 (the fault processes save model 1 over it)."""
    model = fault_run.build_model(0, compiled=False)
    directory = str(tmp_path / "presets" / "tiny")
    model.save_to_preset(directory)
    return directory, _weights(model), _weights(fault_run.build_model(1))


def _check_loads_old_or_new(directory, old, new):
    loaded = _weights(keras_rin.RINImageGenerator.from_preset(directory))
    assert _same_weights(loaded, old) or _same_weights(loaded, new)
    # Loading put back an old preset renamed aside and removed the staging
    # directories of the dead process.
    assert os.listdir(os.path.dirname(directory)) == ["tiny"]
    return loaded


@one_backend
def test_a_preset_save_killed_at_any_point_leaves_a_loadable_preset(
    old_preset, tmp_path
):
    directory, old, new = old_preset
    copies = {}
    processes = {}
    for point in fault_run.SAVE_POINTS:
        copies[point] = str(tmp_path / point / "tiny")
        os.makedirs(os.path.dirname(copies[point]))
        os.system(f"cp -r {directory} {copies[point]}")
        processes[point] = start_fault_process("save", copies[point], point)
    for point, process in processes.items():
        code, output = finish(process)
        assert code == fault_run.DIED, f"killed at {point}:\n{output}"
        loaded = _check_loads_old_or_new(copies[point], old, new)
        expected = new if point == "before_removing_old" else old
        assert _same_weights(loaded, expected), point
        # The next save works and leaves nothing beside the preset.
        fault_run.build_model(1, compiled=False).save_to_preset(copies[point])
        assert os.listdir(os.path.dirname(copies[point])) == ["tiny"]


@one_backend
def test_a_saving_process_killed_at_random_times(old_preset):
    directory, old, new = old_preset
    rng = random.Random(0)
    for _ in range(2):
        process = start_fault_process("save", directory, "loop")
        for line in process.stdout:  # past the backend's log lines
            if line.strip() == "ready":
                break
        # Not a timed assertion: a random point in the saving loop.
        time.sleep(rng.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        _check_loads_old_or_new(directory, old, new)


# Half a megabyte: far less than a preset needs (with the margin). The
# default SIGXFSZ action stays, so a write past it would kill the process
# instead of raising.
FILE_SIZE_LIMIT = 512 * 1024


def test_a_full_disk_raises_an_os_error_and_keeps_the_old_saves(
    old_preset, tmp_path
):
    directory, old, _ = old_preset
    backup_dir = tmp_path / "run" / "backup"
    fault_run.write_backup(fault_run.build_model(0), backup_dir)
    backups = keras_rin.callbacks.BackupAndRestore(backup_dir).backups()
    process = start_fault_process(
        "full", directory, backup_dir, FILE_SIZE_LIMIT
    )
    code, output = finish(process)
    assert code == 0, output
    assert "preset OSError:" in output and "RLIMIT_FSIZE" in output
    assert "backup OSError:" in output
    _check_loads_old_or_new(directory, old, old)
    assert keras_rin.callbacks.BackupAndRestore(backup_dir).backups() == backups
    assert sorted(os.listdir(backup_dir)) == ["backup-000001"]
