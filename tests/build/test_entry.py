"""The generated entry module, run for real the two ways the artifacts run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from onebin import __version__
from onebin.build.entry import ENTRY_MODULE, entry_module
from onebin.errors import BuildError
from tests.build.tiny import REFERENCE, write_tiny_app
from tests.support import expected_version


def write_entry(directory: Path, reference: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / f"{ENTRY_MODULE}.py"
    script.write_text(entry_module(reference))
    return script


def test_entry_module_names_the_app_once_and_compiles():
    text = entry_module("guestbook.app:app")
    assert text.count("'guestbook.app:app'") == 1
    compile(text, f"{ENTRY_MODULE}.py", "exec")


def test_entry_module_refuses_a_reference_that_would_be_code():
    with pytest.raises(BuildError):
        entry_module("x:y')\nimport os\n('")


def test_entry_module_run_as_a_script_serves_its_app(tmp_path: Path):
    """PyInstaller's way: the module is ``__main__``."""
    script = write_entry(tmp_path / "entry", REFERENCE)
    env = {**os.environ, "PYTHONPATH": str(write_tiny_app(tmp_path / "src"))}
    env.pop("ONEBIN_APP", None)
    result = subprocess.run(
        [sys.executable, str(script), "--version"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_version(sys.executable, "tiny", "1.2.3") + "\n"


def test_entry_module_imported_and_called_like_shiv_does(tmp_path: Path):
    """shiv's way: import the module from site-packages, call ``main``, exit with its value."""
    directory = write_entry(tmp_path / "site-packages", "onebin.items:app").parent
    env = {**os.environ, "PYTHONPATH": str(directory)}
    env.pop("ONEBIN_APP", None)
    code = f"from {ENTRY_MODULE} import main; raise SystemExit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "--version"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_version(sys.executable, "items", __version__) + "\n"
