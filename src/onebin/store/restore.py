"""Offline restore: swap a backup in place of the database, crash-safely.

The swap is a few renames (old WAL and file aside, new file in), and a process can
die between any two of them. So the intent is written down first, in a journal file
beside the database, after the incoming copy is complete and flushed. Every step is
a rename that is skipped when already done, so running the swap again (by the next
``serve``, ``restore`` or command that finds the journal) completes it; an incoming
copy without a journal was never promised and is removed. The replaced database,
damaged or not, is kept with its WAL under a ``before-restore`` name.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from onebin.errors import StoreError
from onebin.store.backup import check_backup
from onebin.store.files import PRIVATE_FILE, fsync_path, private_file
from onebin.store.lock import DataDirLock

logger = logging.getLogger("onebin.store")

COPY_CHUNK = 1024 * 1024


def _incoming(database: Path) -> Path:
    return database.with_name(database.name + ".restoring")


def _journal(database: Path) -> Path:
    return database.with_name(database.name + ".restore-journal")


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def restore(
    source: Path,
    database: Path,
    data_dir: Path,
    *,
    before_swap: Callable[[Path], None] | None = None,
) -> Path | None:
    """Put ``source`` in place of ``database``; return where the old one was kept.

    Refuses while another onebin process holds the data directory, and refuses a
    damaged source; the database being replaced may be damaged (that is when a
    restore is needed). ``before_swap`` may change the incoming copy (it gets its
    path) before anything is swapped.
    """
    check_backup(source)
    with DataDirLock(data_dir, exclusive=True):
        finish_interrupted_restore(database)
        incoming = _incoming(database)
        try:
            _copy(source, incoming)
            if before_swap is not None:
                before_swap(incoming)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            _write_journal(database, database.with_name(f"{database.name}.before-restore-{stamp}"))
        except (OSError, sqlite3.Error) as error:
            incoming.unlink(missing_ok=True)
            raise StoreError(f"restore failed: {error}") from None
        except BaseException:  # before_swap refused the backup: nothing was swapped
            incoming.unlink(missing_ok=True)
            raise
        return _swap(database)


def finish_interrupted_restore(database: Path) -> str | None:
    """Complete or undo a restore that a crash interrupted; what was done, for the log.

    Only call it while holding the data directory alone.
    """
    if _journal(database).exists():
        kept = _swap(database)
        where = f"; the previous database is kept as {kept.name}" if kept else ""
        return f"completed an interrupted restore of {database.name}{where}"
    incoming = _incoming(database)
    if incoming.exists():
        incoming.unlink()
        return f"removed {incoming.name}, left by a restore that stopped before its swap"
    return None


def _copy(source: Path, incoming: Path) -> None:
    incoming.unlink(missing_ok=True)
    private_file(incoming)
    with source.open("rb") as reader, incoming.open("wb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())


def _write_journal(database: Path, kept: Path) -> None:
    journal = _journal(database)
    temporary = _sibling(journal, ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(json.dumps({"kept": kept.name}).encode())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, journal)
    fsync_path(database.parent)


def _swap(database: Path) -> Path | None:
    journal = _journal(database)
    try:
        kept = database.with_name(Path(json.loads(journal.read_bytes())["kept"]).name)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StoreError(f"cannot read {journal}: {error}; remove it to start over") from None
    incoming = _incoming(database)
    if incoming.exists():  # the new file is not in place yet
        # The old WAL first: it must never be paired with the new file.
        for suffix in ("-wal", ""):
            old = _sibling(database, suffix)
            if old.exists():
                old.replace(_sibling(kept, suffix))
        _sibling(database, "-shm").unlink(missing_ok=True)
        incoming.replace(database)
        fsync_path(database.parent)
    journal.unlink()
    fsync_path(database.parent)
    return kept if kept.exists() else None
