"""Online backup and offline restore of the SQLite database.

Backup uses SQLite's backup API, which copies a consistent snapshot page by page
while the server keeps writing (WAL readers never block the writer). Both
directions write to a temporary file first and rename it into place, so a crash
mid-way never leaves a half-written database where a good one is expected; restore
also keeps the database it replaces.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from onebin.errors import StoreError
from onebin.store.lock import DataDirLock

PAGES_PER_STEP = 1024


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_database(path: Path) -> None:
    """Refuse a file that is not an intact onebin database."""
    if not path.is_file():
        raise StoreError(f"{path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{path} is not a onebin database: {exc}") from None
    if result != "ok":
        raise StoreError(f"{path} is damaged: {result}")


def backup(database: Path, destination: Path, *, overwrite: bool = False) -> int:
    """Copy ``database`` to ``destination`` consistently; return the size in bytes."""
    if not database.is_file():
        raise StoreError(f"no database at {database}")
    if destination.exists() and not overwrite:
        raise StoreError(f"{destination} exists; pass --force to replace it")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        target = sqlite3.connect(partial)
        try:
            source.backup(target, pages=PAGES_PER_STEP)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
            source.close()
        check_database(partial)
        _fsync(partial)
        partial.replace(destination)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"backup failed: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return destination.stat().st_size


def restore(source: Path, database: Path, data_dir: Path) -> Path | None:
    """Put ``source`` in place of ``database``; return where the old one was kept.

    Refuses while a server holds the data directory, and refuses a damaged source.
    """
    check_database(source)
    with DataDirLock(data_dir, exclusive=True):
        kept = None
        partial = database.with_name(database.name + ".restoring")
        database.parent.mkdir(parents=True, exist_ok=True)
        try:
            partial.write_bytes(source.read_bytes())
            _fsync(partial)
            if database.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = database.with_name(f"{database.name}.before-restore-{stamp}")
                # Fold the old WAL in first, so the kept copy is complete on its own.
                conn = sqlite3.connect(database)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
                database.replace(kept)
            for suffix in ("-wal", "-shm"):
                database.with_name(database.name + suffix).unlink(missing_ok=True)
            partial.replace(database)
        except (sqlite3.Error, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"restore failed: {exc}") from None
    return kept
