"""Fault injection: a training run killed inside a backup. Whatever the
point of death, the restarted run ends with the same weights as an
uninterrupted one.

The processes run `tests/faults/fault_run.py`, which dies at a chosen point
by patching the library's writers.
"""

import numpy as np
import pytest

from tests.faults import fault_run
from tests.faults import finish
from tests.faults import start_fault_process

# Each process pays the imports of Keras and a backend: slow.
pytestmark = pytest.mark.large


# One point per state a killed backup can leave on disk (a process per
# point is slow): no backup yet (the first one's weights half written), a
# complete backup not yet in place (as after the weights or before the
# rename), the new one in place beside the old, an old one half deleted.
KILL_POINTS = (
    "weights_half_written",
    "after_metadata",
    "after_publish",
    "discarding",
)


def test_a_run_killed_inside_any_backup_resumes_to_the_same_weights(
    tmp_path,
):
    # One chain of runs on one backup directory: each run is killed at
    # the next point of a backup, the next one resumes from what is left
    # (from scratch while no backup is complete), the last one finishes.
    backup_dir, result = tmp_path / "backup", tmp_path / "result.npz"
    for point in (*KILL_POINTS, "none"):
        code, output = finish(
            start_fault_process("train", backup_dir, result, point)
        )
        expected = 0 if point == "none" else fault_run.DIED
        assert code == expected, f"killed at {point}:\n{output}"
    uninterrupted = fault_run.train(tmp_path / "reference")
    with np.load(result) as resumed:
        states = [resumed[name] for name in resumed.files]
    assert len(states) == len(uninterrupted)
    for got, want in zip(states, uninterrupted, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert not backup_dir.exists()  # the finished run deleted it
