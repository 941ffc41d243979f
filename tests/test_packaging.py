import os

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_every_package_is_listed_for_the_wheel():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        setuptools = tomllib.load(file)["tool"]["setuptools"]
    on_disk = {"keras_rin.applications"}
    for directory, _, files in os.walk(os.path.join(ROOT, "keras_rin")):
        if "__init__.py" in files:
            relative = os.path.relpath(directory, ROOT)
            on_disk.add(relative.replace(os.sep, "."))
    assert set(setuptools["packages"]) == on_disk
    assert setuptools["package-dir"] == {
        "keras_rin.applications": "applications"
    }


def test_tests_install_what_the_data_extra_installs():
    """CI installs `[test]` with `tensorflow-cpu`: the `data` extra's other
    requirements (what tensorflow-datasets needs to prepare data sets) must
    be in `test` too, so that the suite runs with what users get."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        extras = tomllib.load(file)["project"]["optional-dependencies"]
    data = set(extras["data"]) - {"tensorflow>=2.16"}
    assert "importlib_resources" in data
    assert data <= set(extras["test"])
