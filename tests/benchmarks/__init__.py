import importlib.util
import os
import sys

BENCHMARKS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "benchmarks"
)


def load_benchmark(name):
    """Imports `benchmarks/<name>.py` as a module (its siblings too)."""
    if BENCHMARKS not in sys.path:
        sys.path.insert(0, BENCHMARKS)
    path = os.path.join(BENCHMARKS, f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
