"""Online backup of the SQLite database: one consistent snapshot, verified, then renamed.

SQLite's backup API copies in steps and restarts from the first page whenever
another connection commits between two steps; under a steady trickle of writes a
large database never finished. Copying in ONE step reads the whole file inside one
read transaction, and in WAL mode a reader never blocks the writer: the server keeps
committing (to the WAL) while the copy reads the snapshot it started with, and the
copy takes about as long as on an idle server.

The copy goes to a private temporary file, passes ``PRAGMA quick_check``, is flushed
and only then renamed into place, so a crash or a bad copy never leaves a file
that looks like a good backup.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from onebin.errors import StoreError
from onebin.store.connection import check_owner
from onebin.store.files import fsync_path, private_file
from onebin.store.integrity import run_check


def backup(database: Path, destination: Path, *, overwrite: bool = False) -> int:
    """Copy ``database`` to ``destination`` consistently; return the size in bytes."""
    if not database.is_file():
        raise StoreError(f"no database at {database}")
    if destination.exists() and not overwrite:
        raise StoreError(f"{destination} exists; pass --force to replace it")
    if not destination.parent.is_dir():  # a typo in the path is not a place to create
        raise StoreError(f"cannot write {destination}: {destination.parent} is not a directory")
    partial = destination.with_name(destination.name + ".partial")
    try:
        partial.unlink(missing_ok=True)
        private_file(partial)
        _copy_snapshot(database, partial)
        problems = run_check(partial, "quick_check")
        if problems:
            raise StoreError(f"backup failed: the copy does not pass quick_check: {problems[0]}")
        fsync_path(partial)
        partial.replace(destination)
        fsync_path(destination.parent)
    except (sqlite3.Error, OSError) as error:
        raise StoreError(f"backup failed: {error}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return destination.stat().st_size


def _copy_snapshot(database: Path, target_path: Path) -> None:
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(target_path)
        try:
            source.backup(target, pages=-1)  # -1: every page in one step, one snapshot
            # The copy keeps the source's WAL flag; a backup is one self-contained file.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    finally:
        source.close()


def check_backup(path: Path) -> None:
    """Refuse a file that is not an intact onebin database (the source of a restore)."""
    if not path.is_file():
        raise StoreError(f"{path} does not exist")
    try:
        check_owner(path)
    except StoreError as error:
        raise StoreError(f"{path} is not a onebin database: {error}") from None
    problems = run_check(path, "integrity_check")
    if problems:
        raise StoreError(f"{path} is damaged: {problems[0]}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise StoreError(f"{path} is not a onebin database: {error}") from None
