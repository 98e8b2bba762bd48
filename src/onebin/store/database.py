"""The database contract an application codes against (``Database``), and what onebin
itself needs of an engine beyond it (``Engine``).

One written contract, one module per engine (``sqlite``, ``postgres``), and one test
suite every engine passes (tests/store/test_engines.py): an application's queries
do not care which engine serves them beyond the SQL dialect (``engine`` says which).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# A DB-API 2.0 connection of the engine (``sqlite3.Connection`` for SQLite,
# ``psycopg.Connection`` for PostgreSQL); rows support access by column name.
Connection = Any


class Database(Protocol):
    """The application's database, migrated and open; shared by every request.

    Each method runs ``fn(connection)`` and returns what it returns:

    - ``lookup``: a read bounded by an index lookup (a row by its key). It must be
      cheap: on SQLite it runs on the event loop itself.
    - ``read``: any read that may be slow (a search, a listing); it runs on a
      reader thread.
    - ``write``: ``fn`` runs in a transaction of its own (SQLite: its own savepoint
      of a group commit; PostgreSQL: its own transaction); the result is returned
      once the commit is durable. If ``fn`` raises, nothing it did is kept. It must
      be short (a few indexed statements): on SQLite every write of the process
      waits behind it.

    ``lookup`` and ``read`` functions must not write (PostgreSQL runs them in a
    read-only transaction).

    Every query has a deadline (``--query-timeout``); a write that cannot start
    within ``--write-timeout`` is not run. Database failures surface as onebin's
    faults, which onebin answers as JSON 503/507 with one log line: an application
    need not catch them.
    """

    engine: str

    async def lookup(self, fn: Callable[[Connection], T]) -> T: ...

    async def read(self, fn: Callable[[Connection], T]) -> T: ...

    async def write(self, fn: Callable[[Connection], T]) -> T: ...


class Engine(Database, Protocol):
    """A ``Database`` as onebin itself drives it: opened, probed, used from the CLI, closed.

    - ``open()`` connects and applies pending migrations (exactly once, however many
      processes start together); a failure is a ``StoreError`` naming the database.
    - ``close(timeout)``: finish or abandon in-flight work, release connections.
      ``timeout`` bounds the wait for a stuck writer; nothing unacknowledged is lost.
    - ``read_sync``/``write_sync``: the same as ``read``/``write`` on the calling
      thread, for a process without an event loop (the command line).
    - ``write(fn, timeout=...)``: a tighter limit than ``--write-timeout`` to start.
    - ``damage``: why the database must not be served until it is restored, or None.

    Faults reach callers as ``onebin.errors.StoreFault`` subclasses, never as the
    driver's own errors; other errors (constraint violations, SQL mistakes) pass
    through as the driver raised them.
    """

    damage: str | None

    def open(self) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...

    def read_sync(self, fn: Callable[[Connection], T]) -> T: ...

    def write_sync(self, fn: Callable[[Connection], T]) -> T: ...

    async def write(self, fn: Callable[[Connection], T], *, timeout: float | None = None) -> T: ...
