"""Making TensorFlow Datasets builders and preparing their data, with a
message that says how to get the data when TFDS cannot."""

import os
import socket
import textwrap

from keras_rin.data.data_unavailable_error import DataUnavailableError

# The extra that installs what tensorflow-datasets needs to prepare data.
INSTALL_DATA_EXTRA = 'pip install "keras-rin[data]"'
# Seconds to wait for a data set's server before saying it is unreachable.
_NETWORK_TIMEOUT = 15


def tfds_builder(tfds, name, data_dir):
    """`tfds.builder(name, data_dir=...)`, with a `ValueError` naming
    `name` when TFDS does not know the data set."""
    try:
        return tfds.builder(name, data_dir=data_dir)
    # TFDS raises these for unknown names, configs and versions.
    except (ValueError, AssertionError) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(
            "`name` must be a TensorFlow Datasets data set, such as "
            "'cifar10', 'imagenet2012' or 'imagenet_resized/64x64', but "
            f"TFDS cannot build it ({reason}). Received: name={name!r}"
        ) from error


def prepare(builder, name):
    """Downloads and prepares a data set like `tfds.load` does; raises a
    `DataUnavailableError` that says how to get the data when it fails."""
    try:
        _check_network(builder)
        builder.download_and_prepare()
    # Whatever went wrong (network, checksums, missing archives, a missing
    # module), the data is not there and the message must say what to do.
    except Exception as error:
        raise DataUnavailableError(explain(builder, name, error)) from error


def manual_dir(builder):
    """Where TFDS looks for files downloaded by hand (the default
    `DownloadConfig`'s `manual_dir`)."""
    return os.path.join(os.fspath(builder.data_dir_root), "downloads", "manual")


def explain(builder, name, error):
    """What is missing and how to get it, for a failed preparation."""
    data_dir = os.fspath(builder.data_dir_root)
    header = f"The data set {name!r} is not prepared in {data_dir}"
    missing = _missing_module(error)
    if missing is not None:
        return (
            f"{header}, and tensorflow-datasets cannot prepare it: it needs "
            f"the module {missing!r}, which is not installed. Install it "
            f"with `{INSTALL_DATA_EXTRA}` (or `pip install {missing}`)."
        )
    folder = manual_dir(builder)
    instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if instructions:
        how = f"TFDS's instructions: {_one_line(instructions)}"
        if _has_files(folder):
            return (
                f"{header}, and TFDS could not prepare it from the files in "
                f"{folder}/ ({_reason(error)}). {how}"
            )
        return (
            f"{header}, and it cannot be downloaded by a program: put its "
            f"files in {folder}/ and tensorflow-datasets prepares it on the "
            f"next run. {how}"
        )
    files = _download_files(builder)
    if _is_network_error(error):
        offline = ""
        if files:
            offline = (
                " Or download these files on a machine that has one and "
                f"put them in {folder}/ (TFDS checks their checksums): "
                f"{files}."
            )
        return (
            f"{header}. It can only be downloaded, and the network is not "
            f"reachable ({_reason(error)}). Connect to the internet and run "
            f"again.{offline}"
        )
    return f"{header}, and TFDS could not prepare it ({_reason(error)})."


def _check_network(builder):
    """Fails at once, rather than after TFDS's ten retries (about 200 s),
    when a data set must be downloaded and no server answers.

    Only for a first download: when any file is already in the
    `manual_dir` or the downloads folder, TFDS may not need the network.
    One request to the first file's server, through the environment's
    proxies, like TFDS's own; any HTTP answer counts as a network.
    """
    manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if manual or not _downloads_for_real(builder):
        return
    urls = sorted(builder.url_infos or {})
    downloads = os.path.join(os.fspath(builder.data_dir_root), "downloads")
    if not urls or _has_files(downloads):
        return
    import requests

    requests.head(urls[0], timeout=_NETWORK_TIMEOUT, allow_redirects=False)


def _downloads_for_real(builder):
    """False under `tfds.testing.mock_data`, which replaces
    `download_and_prepare` with a no-op."""
    method = type(builder).download_and_prepare
    module = getattr(method, "__module__", None)
    return module == "tensorflow_datasets.core.dataset_builder"


def _has_files(folder):
    return any(files for _, _, files in os.walk(folder))


def _causes(error):
    """The error and the errors it was raised from, outermost first."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _missing_module(error):
    for cause in _causes(error):
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            return cause.name
    return None


def _is_network_error(error):
    network_errors = (ConnectionError, TimeoutError, socket.gaierror)
    try:
        import requests

        network_errors += (requests.exceptions.RequestException,)
    except ImportError:
        pass
    return any(isinstance(cause, network_errors) for cause in _causes(error))


def _download_files(builder):
    """'file (url)' for each file the builder downloads, when TFDS knows
    them."""
    url_infos = builder.url_infos or {}
    return ", ".join(
        f"{info.filename} ({url})"
        for url, info in sorted(url_infos.items())
        if info.filename
    )


def _reason(error):
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"


def _one_line(text):
    return " ".join(textwrap.dedent(text).split())
