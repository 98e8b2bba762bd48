"""Private files: the data directory and the database files are for onebin's user only.

The database holds every item and the token hashes, so other local users must not
read it, whatever umask the service was started with. SQLite creates a new file
with mode 0644 (less the umask), and gives its ``-wal`` and ``-shm`` files the mode
of the database file; so creating the database file 0600 before SQLite opens it,
and tightening older files, is enough to keep all three private.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from onebin.errors import DataDirError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
DATABASE_SUFFIXES = ("", "-wal", "-shm")


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with the directory itself mode 0700.

    An existing directory keeps its mode: the operator may have chosen it (for a
    group that reads backups, say); the files inside are private either way.
    """
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True, mode=PRIVATE_DIR)
    except FileExistsError:
        if not path.is_dir():
            raise DataDirError(f"{path} exists and is not a directory") from None
        return
    except OSError as error:
        raise DataDirError(f"cannot create directory {path}: {error.strerror}") from None
    # mkdir's mode is reduced by the umask only, never widened; chmod makes it exact.
    os.chmod(path, PRIVATE_DIR)


def private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 (an existing file is tightened, not emptied)."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError as error:
        verb = "open" if path.exists() else "create"
        raise DataDirError(f"cannot {verb} {path} for writing: {error.strerror}") from None
    try:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != PRIVATE_FILE:
            os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)


def tighten_database_files(database: Path) -> None:
    """Mode 0600 for a database and its WAL and shared-memory files where they exist."""
    for suffix in DATABASE_SUFFIXES:
        path = database.with_name(database.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(path.stat().st_mode) != PRIVATE_FILE:
                os.chmod(path, PRIVATE_FILE)


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's contents (a rename is durable once its directory is)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
