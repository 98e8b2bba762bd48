"""Opening onebin's SQLite file: whose file it is, then the pragmas every connection needs.

Pointing ``--data-dir`` at another application's database must not change that
database. So before anything writes (switching to WAL writes the file header), the
file is inspected on a connection that cannot write: it must be empty, marked with
onebin's ``application_id``, or an unmarked file that onebin's own migration ledger
shows it created (databases from before the mark existed).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from onebin.errors import DatabaseDamaged, ForeignDatabase
from onebin.store.faults import SQLITE_CORRUPT, result_code

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

    Raises ``ForeignDatabase``; a missing or empty file passes (it becomes onebin's).
    """
    try:
        if path.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise ForeignDatabase(f"{path} cannot be opened as a SQLite database: {error}") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if application_id == APPLICATION_ID:
            return
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if application_id == 0 and (not tables or _made_by_onebin(conn, tables)):
            return
    except sqlite3.DatabaseError as error:
        if result_code(error) == SQLITE_CORRUPT:
            raise DatabaseDamaged(
                f"{path} is damaged ({error}); restore a backup with 'onebin restore PATH'"
            ) from None
        raise ForeignDatabase(f"{path} is not a SQLite database ({error})") from None
    finally:
        conn.close()
    raise ForeignDatabase(
        f"{path} belongs to another application (it is not a onebin database); "
        "onebin changes nothing in it: point --data-dir at a directory of its own"
    )


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
