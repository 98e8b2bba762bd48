"""Is the database file intact? SQLite's own checks, and a note of every clean close.

``integrity_check`` reads every page and can take minutes on a large file, so a
server does not run it at each start. It runs the faster ``quick_check`` when the
file was not closed cleanly: after the last connection closes, SQLite has folded
the WAL into the file and removed it, and onebin then notes the file's size, time
and inode beside it. A start that finds the note matching, and no WAL, knows nobody
touched the file since; anything else (a crash, a copy, an edit, another program)
gets checked before the server says it is ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

from onebin.errors import DatabaseDamaged
from onebin.store.files import PRIVATE_FILE

MAX_PROBLEMS = 20


def _marker(database: Path) -> Path:
    return database.with_name(database.name + ".clean")


def _wal_in_use(database: Path) -> bool:
    try:
        return database.with_name(database.name + "-wal").stat().st_size > 0
    except FileNotFoundError:
        return False


def _signature(database: Path) -> dict[str, int]:
    stat = database.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def note_clean_close(database: Path) -> None:
    """After closing: note the file's signature if this was the last connection."""
    if _wal_in_use(database) or not database.exists():
        return  # another process still has it open; it writes the note when it closes
    data = json.dumps(_signature(database)).encode()
    marker = _marker(database)
    temporary = marker.with_name(marker.name + ".tmp")
    with contextlib.suppress(OSError):  # a missing note only costs a check at next start
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, marker)


def closed_cleanly(database: Path) -> bool:
    if _wal_in_use(database):
        return False
    try:
        noted = json.loads(_marker(database).read_bytes())
        return bool(noted == _signature(database))
    except (OSError, ValueError):
        return False


def run_check(database: Path, pragma: str) -> list[str]:
    """Problems ``PRAGMA quick_check`` or ``integrity_check`` reports; empty when intact."""
    try:
        conn = sqlite3.connect(database)
        try:
            rows = [row[0] for row in conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return [str(error)]
    return [] if rows == ["ok"] else rows


def check_at_start(database: Path) -> bool:
    """Quick-check a file that was not closed cleanly; True if a check ran.

    Raises ``DatabaseDamaged`` with a one-line message naming the way out.
    """
    if not database.exists() or database.stat().st_size == 0 or closed_cleanly(database):
        return False
    problems = run_check(database, "quick_check")
    if problems:
        raise DatabaseDamaged(
            f"{database} is damaged ({problems[0]}); onebin will not serve it. "
            "Restore a backup with 'onebin restore PATH' (the damaged file is kept), "
            "or see all problems with 'onebin check'"
        )
    return True
