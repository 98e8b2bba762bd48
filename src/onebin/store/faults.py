"""What a SQLite error means for the caller: a pure mapping onto onebin's error tree.

SQLite reports a full disk, a damaged file and an interrupted query as different
result codes; a client should see them as a 507, a 503 that names the damage, and
a 503 ``query_timeout``, not as one generic 500 with a traceback. Constraint
violations and programming errors are not faults and are passed on unchanged.
"""

from __future__ import annotations

import sqlite3

from onebin.errors import (
    DatabaseDamaged,
    DatabaseUnavailable,
    QueryTimeout,
    StorageFull,
    StoreFault,
    WriteTimeout,
)

# Primary result codes (https://sqlite.org/rescode.html); extended codes keep these
# in their low byte.
SQLITE_READONLY = 8
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_NOMEM = 7
SQLITE_INTERRUPT = 9
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_PROTOCOL = 15
SQLITE_NOTADB = 26


def result_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


# Python's sqlite3 (not SQLite) raises this for a TEXT value that is not UTF-8. onebin
# and every app write text through the same driver, which always sends UTF-8, so such
# a value is damage that left the page's structure intact (SQLite's own checks pass).
_NOT_UTF8 = "Could not decode to UTF-8"


def classify(error: sqlite3.Error, *, query_timeout: float) -> StoreFault | None:
    """The fault ``error`` stands for, or None when it is not a fault of the database."""
    if isinstance(error, sqlite3.OperationalError) and str(error).startswith(_NOT_UTF8):
        # The message goes on with the damaged value itself: not for a client or a log.
        return DatabaseDamaged(
            "the database file is damaged (a text value is not valid UTF-8); "
            "restore a backup with 'onebin restore'"
        )
    code = result_code(error)
    if code == SQLITE_FULL:
        return StorageFull("the disk holding the database is full")
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DatabaseDamaged(
            f"the database file is damaged ({error}); restore a backup with 'onebin restore'"
        )
    if code == SQLITE_INTERRUPT:
        return QueryTimeout(f"the query took longer than {query_timeout:g}s and was stopped")
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return WriteTimeout("the database is locked by another process")
    if code in (SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_NOMEM, SQLITE_PROTOCOL):
        return DatabaseUnavailable(f"the database cannot be used right now ({error})")
    return None


def translate(error: BaseException, *, query_timeout: float) -> BaseException:
    """``error`` as the caller should see it: a ``StoreFault`` where it is one."""
    if isinstance(error, sqlite3.Error):
        fault = classify(error, query_timeout=query_timeout)
        if fault is not None:
            fault.__cause__ = error
            return fault
    return error
