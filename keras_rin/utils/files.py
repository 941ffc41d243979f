"""Small file-system helpers: parent directories, and directories that
are published atomically (presets, training backups).

A published directory is written whole into a hidden staging sibling,
`.<name>.partial-<host>-<pid>-<random>`, then renamed into place, so a
reader sees the old directory or the new one, never a part of one.

Staging directories of killed writers are removed by the next writer (and
loader) of the same name. One is *stale*, and removed, when its owner
(the host and process id in its name) is a process of this host that no
longer runs, or when nothing in it changed for `STALE_AFTER_SECONDS` (a
writer on another host sharing the file system, or a reused process id).
A live writer's staging directory is never removed: its owner runs.
"""

import errno
import math
import os
import re
import shutil
import socket
import tempfile
import time

import numpy as np

STAGING_MARK = ".partial-"
RETIRED_SUFFIX = ".old"
STALE_AFTER_SECONDS = 24 * 3600

# HDF5 adds a few kilobytes of headers per variable; JSON files are small.
_BYTES_PER_VARIABLE = 8 * 1024
_FIXED_MARGIN = 1024 * 1024


def make_parent_directory(path):
    """Creates the directory that will hold `path`, if it has one."""
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)


def make_staging_directory(target):
    """A new, empty hidden sibling of `target` to write it in (with the
    permissions of any new directory, not `mkdtemp`'s private ones)."""
    parent, name = os.path.split(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f".{name}{STAGING_MARK}{_host()}-{os.getpid()}-", dir=parent
    )
    os.chmod(staging, 0o777 & ~_current_umask())
    return staging


def publish_directory(staging, target):
    """Renames the complete `staging` directory to `target`, replacing
    the directory there, if any.

    A directory cannot be renamed over a non-empty one: the old one is
    first renamed aside (`<staging>.old`), so a complete directory is
    always at one of the two; `restore_interrupted_publish` puts the old
    one back if the process dies between the two renames.
    """
    _sync_tree(staging)
    if os.path.exists(target):
        retired = staging + RETIRED_SUFFIX
        os.rename(target, retired)
        os.rename(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, target)
    _sync_directory(os.path.dirname(os.path.abspath(target)))


def discard_directory(path):
    """Deletes the directory `path`, first renaming it to a staging name so
    that a deletion cut short never leaves a half-deleted `path`."""
    trash = make_staging_directory(path)
    os.rmdir(trash)
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def restore_interrupted_publish(target):
    """Recovers `target` after a writer died mid-publish, and removes stale
    staging directories beside it. Best effort: never raises.

    When `target` is missing but an old copy of it was renamed aside by a
    writer that died (see `publish_directory`), the old copy is renamed
    back: a save that did not return did not happen.

    Args:
        target: str, the path of a published directory (a preset).
    """
    try:
        target = os.path.abspath(os.fspath(target))
        if not os.path.exists(target):
            _rename_back_retired(target)
        remove_stale_staging(os.path.dirname(target), target)
    except OSError:
        pass


def remove_stale_staging(parent, target=None):
    """Removes the stale staging directories in `parent` (those of
    `target` only, when given); see the module docstring for the rule."""
    for path in _staging_directories(parent, target):
        if is_stale(path):
            shutil.rmtree(path, ignore_errors=True)


def is_stale(staging):
    """Whether a staging directory belongs to no running writer."""
    match = re.search(r"\.partial-(.+)-(\d+)-[^-]*$", _strip_retired(staging))
    if match and match.group(1) == _host() and os.name == "posix":
        if not _process_runs(int(match.group(2))):
            return True
    return time.time() - _last_change(staging) > STALE_AFTER_SECONDS


def variables_nbytes(variables):
    """The bytes the values of `variables` take (what a weights file
    holds, headers aside)."""
    return sum(
        math.prod(variable.shape) * _itemsize(variable.dtype)
        for variable in variables
    )


def expected_weights_file_size(variables):
    """A generous estimate of the size of a `.weights.h5` file holding
    `variables`."""
    variables = list(variables)
    data = variables_nbytes(variables)
    return data + data // 20 + len(variables) * _BYTES_PER_VARIABLE


def check_room(directory, nbytes, what):
    """Raises `OSError` when writing `nbytes` in `directory` would fill the
    disk or pass the process' file-size limit (`RLIMIT_FSIZE`).

    HDF5 can crash the whole process after a write fails, so a weights
    file is only started when it fits.

    Args:
        directory: str, an existing directory the file will be written in.
        nbytes: int, the size of the largest file to write, or of all of
            them (they are checked against the same limits).
        what: str, what is being saved, for the message.
    """
    needed = nbytes + _FIXED_MARGIN
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"Not enough free disk space to save {what} in {directory}: "
            f"it needs about {_megabytes(needed)}, only {_megabytes(free)} "
            "is free. The previous save, if any, is kept.",
        )
    limit = _file_size_limit()
    if limit is not None and limit < needed:
        raise OSError(
            errno.EFBIG,
            f"Cannot save {what} in {directory}: it needs files of about "
            f"{_megabytes(needed)}, past this process' file-size limit "
            f"(RLIMIT_FSIZE, `ulimit -f`) of {_megabytes(limit)}. The "
            "previous save, if any, is kept.",
        )


def save_weights_file(model, path):
    """`model.save_weights(path)`, with HDF5's write errors (a full disk)
    as an `OSError` that names the path."""
    try:
        model.save_weights(path)
    except OSError as error:
        raise OSError(
            error.errno, f"Could not write the weights file {path}: {error}"
        ) from error
    except RuntimeError as error:
        # h5py reports some failed writes as a RuntimeError with an errno.
        if "errno" not in str(error):
            raise
        raise OSError(
            f"Could not write the weights file {path}: {error}"
        ) from error


def _rename_back_retired(target):
    retired = [
        path
        for path in _staging_directories(os.path.dirname(target), target)
        if path.endswith(RETIRED_SUFFIX) and is_stale(path)
    ]
    for path in sorted(retired, key=_last_change, reverse=True):
        try:
            os.rename(path, target)
            return
        except OSError:
            if os.path.exists(target):  # a concurrent loader was first
                return


def _staging_directories(parent, target=None):
    prefix = f".{os.path.basename(target)}{STAGING_MARK}" if target else "."
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    return [
        os.path.join(parent, name)
        for name in names
        if name.startswith(prefix)
        and STAGING_MARK in name
        and os.path.isdir(os.path.join(parent, name))
        and not os.path.islink(os.path.join(parent, name))
    ]


def _strip_retired(path):
    if path.endswith(RETIRED_SUFFIX):
        return path[: -len(RETIRED_SUFFIX)]
    return path


def _process_runs(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _last_change(path):
    latest = os.lstat(path).st_mtime
    for root, _, names in os.walk(path):
        for name in names:
            try:
                latest = max(
                    latest, os.lstat(os.path.join(root, name)).st_mtime
                )
            except OSError:
                pass
    return latest


def _host():
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:32] or "host"


def _itemsize(dtype):
    name = str(getattr(dtype, "name", dtype))
    try:
        return np.dtype(name).itemsize
    except TypeError:  # bfloat16, float8_*: not NumPy dtypes
        bits = re.search(r"(\d+)", name)
        return int(bits.group(1)) // 8 if bits else 4


def _file_size_limit():
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _megabytes(nbytes):
    return f"{nbytes / 2**20:.1f} MiB"


def _sync_tree(directory):
    # Data on disk before the rename that publishes it: after a power
    # loss, the new name never points to unwritten files.
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as file:
                    os.fsync(file.fileno())
        _sync_directory(root)


def _sync_directory(directory):
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
