"""What a PostgreSQL error means for the caller: a pure mapping onto onebin's error tree.

The PostgreSQL twin of ``faults``: a server that is down or restarting, a query
stopped by ``statement_timeout`` and a full disk must reach a client as a 503
``database_unavailable``, a 503 ``query_timeout`` and a 507, never as a 500 with a
traceback. The decision rests on the SQLSTATE alone (the server's own name for the
condition) and, for libpq's failures that have none (refused, reset, closed),
on the error's class. Constraint violations and programming errors are not
faults and are passed on unchanged.
"""

from __future__ import annotations

import psycopg

from onebin.errors import (
    DatabaseDamaged,
    DatabaseUnavailable,
    QueryTimeout,
    StorageFull,
    StoreFault,
)

QUERY_CANCELED = "57014"
DISK_FULL = "53100"
READ_ONLY_TRANSACTION = "25006"
# Whole classes meaning "no server to talk to": 08 connection exception, 57P0x
# operator intervention (shutdown, crash, still starting, database dropped).
_UNAVAILABLE_PREFIXES = ("08", "57P")
# Single states with the same meaning: out of memory or connection slots, I/O error.
_UNAVAILABLE = frozenset({"53200", "53300", "53400", "58030"})
# The server found damaged pages or indexes; PostgreSQL's log says which.
_DAMAGED = frozenset({"XX001", "XX002"})


def reason(error: BaseException) -> str:
    """libpq's words for ``error``, one line, without the host and port it tried.

    "connection to server at "10.0.0.5", port 5432 failed: Connection refused" keeps
    only "Connection refused": the answer goes to API clients, who need not learn
    the database's address.
    """
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return first.rpartition(" failed: ")[2].strip()


def fault_for(
    sqlstate: str | None, detail: str, *, query_timeout: float, writing: bool = True
) -> StoreFault | None:
    """The fault a SQLSTATE stands for (None: libpq failed before the server answered),
    or None when it is no fault of the database. Pure.

    ``writing`` says the transaction was meant to write: a read-only refusal is then
    the server's (a standby), while in a read it is the read function's own bug.
    """
    if sqlstate is None or sqlstate.startswith(_UNAVAILABLE_PREFIXES) or sqlstate in _UNAVAILABLE:
        return DatabaseUnavailable(f"PostgreSQL cannot be used right now ({detail}); try again")
    if sqlstate == QUERY_CANCELED:
        return QueryTimeout(f"the query took longer than {query_timeout:g}s and was stopped")
    if sqlstate == DISK_FULL:
        return StorageFull("the disk holding the PostgreSQL database is full")
    if sqlstate == READ_ONLY_TRANSACTION and writing:
        # A standby after a failover, or default_transaction_read_only: no writes here.
        return DatabaseUnavailable(f"PostgreSQL accepts no writes here ({detail})")
    if sqlstate in _DAMAGED:
        return DatabaseDamaged(
            f"PostgreSQL reports damaged data ({detail}); see the server's log and restore "
            "from a backup (pg_restore)"
        )
    return None


def classify(
    error: BaseException, *, query_timeout: float, writing: bool = True
) -> StoreFault | None:
    """The fault ``error`` stands for, or None when it is not a fault of the database.

    Only ``OperationalError`` may lack a SQLSTATE and still be a fault (libpq's own
    failures: refused, timed out, closed); any other error without one is a misuse
    of the driver and stays what it is.
    """
    if not isinstance(error, psycopg.Error):
        return None
    if error.sqlstate is None and not isinstance(error, psycopg.OperationalError):
        return None
    return fault_for(error.sqlstate, reason(error), query_timeout=query_timeout, writing=writing)


def translate(error: BaseException, *, query_timeout: float) -> BaseException:
    """``error`` as the caller should see it: a ``StoreFault`` where it is one."""
    fault = classify(error, query_timeout=query_timeout)
    if fault is None:
        return error
    fault.__cause__ = error
    return fault
