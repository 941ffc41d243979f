"""Small file-system helpers shared by the writers of pictures."""

import os


def make_parent_directory(path):
    """Creates the directory that will hold `path`, if it has one."""
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
