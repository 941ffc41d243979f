import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tests compile many tiny models and run each for a few steps: XLA's
# slow CPU code-generation passes cost more than they save (about a third
# of each compile). Speed is measured in benchmarks/, not here.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_dtype_policy():
    yield
    keras.config.set_dtype_policy("float32")
