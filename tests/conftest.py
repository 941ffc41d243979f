import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tests compile many tiny models and run each for a few steps: XLA's
# slow CPU code-generation passes cost more than they save (about a third
# of each compile). Speed is measured in benchmarks/, not here.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
# pytest-xdist runs the suite in several processes (pyproject.toml): give
# each its share of the cores, or their thread pools fight over them
# (PyTorch's OpenMP threads spin: the suite ran 2.4x slower without this).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, len(os.sched_getaffinity(0)) // _WORKERS))
    for _variable in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    ):
        os.environ.setdefault(_variable, _THREADS)

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_dtype_policy():
    yield
    keras.config.set_dtype_policy("float32")
