"""``--version``: the app, onebin and the native libraries the running process loaded."""

from __future__ import annotations

import platform
import sqlite3
import ssl

from onebin import __version__
from onebin.app import App
from onebin.versions import version_line, versions


def test_version_line_names_the_app_onebin_and_the_libraries_in_use():
    line = version_line(versions(App(name="x", version="1")))
    assert line.startswith(f"x 1 (onebin {__version__}, ")
    assert line.startswith("x 1 (onebin ")
    # What an operator checks after an advisory: the libraries loaded, not the system's.
    assert f"SQLite {sqlite3.sqlite_version}" in line
    assert ssl.OPENSSL_VERSION in line
    assert f"Python {platform.python_version()}" in line
    assert line.endswith(")")


def test_versions_are_structured_for_status():
    found = versions(App(name="x", version="1"))
    assert found["app"] == {"name": "x", "version": "1"}
    assert found["sqlite"] == sqlite3.sqlite_version
    assert found["openssl"] == ssl.OPENSSL_VERSION
