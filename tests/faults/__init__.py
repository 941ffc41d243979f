"""Shared helpers of the fault-injection tests."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")


def start_fault_process(*args):
    """Starts `python -m tests.faults.fault_run <args>`."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.fault_run", *map(str, args)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process):
    """`(exit code, output)` of a fault process."""
    output, _ = process.communicate(timeout=300)
    return process.returncode, output
