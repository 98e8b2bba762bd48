from __future__ import annotations

import sys
from pathlib import Path

from onebin.build.entry import ENTRY_MODULE
from onebin.build.executable import archived_path, pyinstaller_command, search_path


def test_search_path_puts_the_staged_packages_first_and_never_the_current_directory():
    staged = Path("/work/packages")
    assert search_path(staged, "") == "/work/packages"
    assert search_path(staged, "/src:/lib") == "/work/packages:/src:/lib"
    assert search_path(staged, ":/src::") == "/work/packages:/src"


def test_pyinstaller_command_collects_every_staged_package_and_runs_the_entry_module():
    command = pyinstaller_command(
        name="tiny",
        packages=Path("/work/packages"),
        package_names=["onebin", "tinyapp"],
        distributions=["onebin"],
        excluded=["brotli", "yaml"],
        work=Path("/work/exe"),
    )
    assert command[:4] == [sys.executable, "-P", "-m", "PyInstaller"]
    assert "--name=tiny" in command
    for package in ("onebin", "tinyapp"):
        assert f"--collect-submodules={package}" in command
        assert f"--collect-data={package}" in command
    assert "--copy-metadata=onebin" in command
    assert "--exclude-module=brotli" in command
    assert "--exclude-module=yaml" in command
    assert command[-1] == f"/work/packages/{ENTRY_MODULE}.py"


def test_archived_path_names_a_package_by_its_init():
    assert archived_path("onebin.items", 1) == "onebin/items/__init__.pyc"
    assert archived_path("onebin.items.api", 0) == "onebin/items/api.pyc"
    assert archived_path("namespace", 3) == "namespace/__init__.pyc"
