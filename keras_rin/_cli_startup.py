"""What the `keras-rin` command does before keras is imported: choose the
Keras backend and quiet TensorFlow's start-up log.

Keras reads `KERAS_BACKEND` once, when it is first imported, and
`import keras_rin` imports keras: both the console script
(`keras_rin.cli:main`) and `python -m keras_rin` import the package first.
So `keras_rin/__init__.py` imports this module before anything else, and
importing it runs `prepare_if_launched_as_cli()`, which does nothing in any
other program. Only the standard library here.
"""

import contextlib
import importlib
import importlib.util
import json
import os
import sys

# In the order of the automatic choice.
BACKENDS = ("jax", "torch", "tensorflow")
_CLI_MODULES = ("keras_rin", "keras_rin.__main__", "keras_rin.cli")

# The line the command prints when it starts using a backend that it chose
# itself; None when the user chose one.
backend_note = None


class BackendError(Exception):
    """No usable backend: the message is the command's one error line."""


def prepare_if_launched_as_cli():
    """Chooses the backend (and quiets TensorFlow) when this process is the
    `keras-rin` command and keras is not imported yet; exits with one
    error line when the backend asked for is not installed."""
    if "keras" in sys.modules or not launched_as_cli(sys.argv, sys.orig_argv):
        return
    try:
        prepare(sys.argv[1:], os.environ)
    except BackendError as error:
        print(f"keras-rin: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def launched_as_cli(argv, orig_argv):
    """Whether the process is `keras-rin ...` or `python -m keras_rin ...`
    (while `-m` locates its module, `argv[0]` is `"-m"`)."""
    program = os.path.basename(argv[0]) if argv else ""
    if program.removesuffix(".exe") == "keras-rin":
        return True
    return program == "-m" and _module_run_by_dash_m(orig_argv) in _CLI_MODULES


def _module_run_by_dash_m(orig_argv):
    for index, arg in enumerate(orig_argv[1:], start=1):
        if arg == "-m":
            return orig_argv[index + 1] if index + 1 < len(orig_argv) else None
        if arg.startswith("-m"):
            return arg[2:]
    return None


def prepare(argv, environ, find_spec=importlib.util.find_spec):
    """Sets `KERAS_BACKEND` in `environ` from `--backend` in `argv`, the
    environment, keras.json or what is installed, and imports it."""
    global backend_note
    backend, backend_note = choose_backend(
        requested_backend(argv), environ, find_spec
    )
    environ["KERAS_BACKEND"] = backend
    quiet = False
    if backend == "tensorflow":
        environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # Level 3 asks for no log but fatal errors: a user who set a lower
        # one sees TensorFlow's start-up lines.
        quiet = environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    _import_backend(backend, quiet)


def requested_backend(argv):
    """The value of the last `--backend NAME` or `--backend=NAME` in
    `argv`, if it names a backend (argparse reports any other)."""
    value = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--backend" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--backend="):
            value = arg.partition("=")[2]
    return value if value in BACKENDS else None


def choose_backend(requested, environ, find_spec=importlib.util.find_spec):
    """`(backend, note)`: `requested` (from `--backend`), else
    `KERAS_BACKEND`, else keras.json's backend if installed, else the first
    installed of `BACKENDS`; the note (None when the user named the
    backend) says which was taken. Raises `BackendError` when the backend
    named is not installed or none is."""
    installed = [name for name in BACKENDS if find_spec(name) is not None]
    if requested:
        _check_installed(requested, f"--backend {requested}", installed)
        return requested, None
    named = environ.get("KERAS_BACKEND", "")
    if named:
        _check_installed(named, f"KERAS_BACKEND={named}", installed)
        return named, None
    config_path, configured = _keras_config_backend(environ)
    if configured in installed:
        return configured, (
            f"Using the {configured} backend of {config_path} "
            "(KERAS_BACKEND is not set)."
        )
    if not installed:
        raise BackendError(
            "no Keras backend is installed: install one, e.g. "
            'pip install "keras-rin[jax]" (or [torch], [tensorflow])'
        )
    note = f"Using the {installed[0]} backend (KERAS_BACKEND is not set)."
    return installed[0], note


def _check_installed(backend, source, installed):
    if backend not in BACKENDS:
        raise BackendError(
            f"{source}: keras-rin runs on jax, tensorflow or torch"
        )
    if backend not in installed:
        raise BackendError(
            f"{source}: the {backend} backend is not installed (installed: "
            f"{', '.join(installed) or 'none'}); install it with "
            f'pip install "keras-rin[{backend}]"'
        )


def _keras_config_backend(environ):
    """`(path, backend)` of keras.json, where Keras looks for it; backend
    None when it cannot be read."""
    home = environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    path = os.path.join(home, "keras.json")
    try:
        with open(path) as file:
            return path, json.load(file).get("backend")
    except (OSError, ValueError, AttributeError):
        return path, None


def _import_backend(backend, quiet):
    # TensorFlow logs through absl before absl is initialised, and that log
    # ignores TF_CPP_MIN_LOG_LEVEL: to quiet it, its import writes stderr
    # to /dev/null.
    silenced = _stderr_silenced() if quiet else contextlib.nullcontext()
    try:
        with silenced:
            importlib.import_module(backend)
    except ImportError as error:
        raise BackendError(
            f"the {backend} backend is installed but does not import: {error}"
        ) from error


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


prepare_if_launched_as_cli()
