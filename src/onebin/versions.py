"""What a running onebin is made of: the app, onebin, and the native libraries in use.

One place for ``--version`` and ``onebin status``, because the libraries are what an
operator checks after a security advisory: the executable carries its own OpenSSL
and SQLite, so the versions the system's package manager lists say nothing about it.
"""

from __future__ import annotations

import platform
import sqlite3
import ssl
from typing import Any

from onebin import __version__
from onebin.app import App


def versions(app: App) -> dict[str, Any]:
    return {
        "onebin": __version__,
        "app": {"name": app.name, "version": app.version},
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "openssl": ssl.OPENSSL_VERSION,
    }


def version_line(versions: dict[str, Any]) -> str:
    """``items 0.1.0 (onebin 0.1.0, Python 3.11.2, SQLite 3.46.1, OpenSSL 3.5.7 ...)``."""
    app = versions["app"]
    return (
        f"{app['name']} {app['version']} (onebin {versions['onebin']}, Python "
        f"{versions['python']}, SQLite {versions['sqlite']}, {versions['openssl']})"
    )
