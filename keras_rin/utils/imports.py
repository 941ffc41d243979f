"""Optional dependencies, imported when a function needs them."""

import importlib

# The pip package of each optional module.
_PACKAGES = {
    "tensorflow": "tensorflow",
    "tensorflow_datasets": "tensorflow-datasets",
    "av": "av",
}


def optional_import(module, function):
    """Imports `module` for `function`, or raises an `ImportError` that
    says which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = _PACKAGES.get(module, module)
        raise ImportError(
            f"`{function}` needs the `{module}` package: pip install {package}"
        ) from error
