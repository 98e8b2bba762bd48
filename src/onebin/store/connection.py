"""Opening onebin's SQLite file: whose file it is, then the pragmas every connection needs.

Pointing ``--data-dir`` at another application's database must not change that
database. So before anything writes (switching to WAL writes the file header), the
file is inspected on a connection that cannot write: it must be empty, marked with
onebin's ``application_id``, or an unmarked file that onebin's own migration ledger
shows it created (databases from before the mark existed).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from onebin.errors import DatabaseDamaged, DatabaseUnavailable, DataDirError, ForeignDatabase
from onebin.store.faults import SQLITE_CORRUPT, SQLITE_NOTADB, result_code

# "oneb" in ASCII: what `PRAGMA application_id` reads in every database onebin made.
APPLICATION_ID = 0x6F6E6562
BUSY_TIMEOUT_MS = 5000


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection with the pragmas every onebin connection needs.

    ``isolation_level=None`` turns off the sqlite3 module's implicit transactions so
    that every transaction is explicit (``BEGIN IMMEDIATE`` for writes): a write
    then takes the lock up front instead of failing half-way on upgrade.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def check_owner(path: Path) -> None:
    """Refuse a non-empty file that is not onebin's, before anything writes to it.

    Raises ``ForeignDatabase`` (another application's, or not SQLite at all),
    ``DatabaseDamaged`` or ``DatabaseUnavailable`` (cannot be opened: a read-only
    file system, say). A missing or empty file passes: it becomes onebin's.
    """
    if path.is_dir():
        raise DataDirError(f"{path} is a directory, not a database file")
    try:
        if path.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    try:
        if _is_onebins(path):
            return
    except sqlite3.Error as error:
        code = result_code(error)
        if code == SQLITE_CORRUPT:
            raise DatabaseDamaged(
                f"{path} is damaged ({error}); restore a backup with 'onebin restore PATH'"
            ) from None
        if code == SQLITE_NOTADB:
            raise ForeignDatabase(f"{path} is not a SQLite database ({error})") from None
        raise DatabaseUnavailable(f"cannot open {path}: {_why_unopenable(path, error)}") from None
    raise ForeignDatabase(
        f"{path} belongs to another application (it is not a onebin database); "
        "onebin changes nothing in it: point --data-dir at a directory of its own"
    )


def _is_onebins(path: Path) -> bool:
    """Read (never write) whether the file carries onebin's mark or ledger."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if application_id == APPLICATION_ID:
            return True
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        return application_id == 0 and (not tables or _made_by_onebin(conn, tables))
    finally:
        conn.close()


def _why_unopenable(path: Path, error: sqlite3.Error) -> str:
    """SQLite says "unable to open database file"; say what the operator can fix."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "Read-only file system"
    except OSError:
        pass
    if not os.access(path.parent, os.W_OK):
        return f"{path.parent} is not writable"
    return str(error)


def _made_by_onebin(conn: sqlite3.Connection, tables: set[str]) -> bool:
    """An unmarked database from before the mark: its ledger records onebin's tokens table."""
    if "schema_migrations" not in tables:
        return False
    with contextlib.suppress(sqlite3.Error):
        row = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE component = 'onebin' AND version = 1"
        ).fetchone()
        return row is not None
    return False
