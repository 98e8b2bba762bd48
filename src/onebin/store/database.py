"""The database contract an application codes against: ``Database``.

One written contract, so a second engine (PostgreSQL) can be a second module that
satisfies it, and an application's queries do not care which one serves them
beyond the SQL dialect (``engine`` says which).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# A DB-API 2.0 connection of the engine (``sqlite3.Connection`` for SQLite); rows
# support access by column name.
Connection = Any


class Database(Protocol):
    """The application's database, migrated and open; shared by every request.

    Each method runs ``fn(connection)`` and returns what it returns:

    - ``lookup``: a read bounded by an index lookup (a row by its key). It runs
      on the event loop itself, so it must be cheap.
    - ``read``: any read that may be slow (a search, a listing); it runs on a
      reader thread.
    - ``write``: ``fn`` runs alone inside its own savepoint of a group commit; the
      result is returned once the commit is durable. If ``fn`` raises, nothing it
      did is kept. It must be short (a few indexed statements): it runs on the event
      loop, and every write in the process waits behind it.

    Every query has a deadline (``--query-timeout``); a write that cannot start
    within ``--write-timeout`` is not run. Database failures surface as onebin's
    faults, which onebin answers as JSON 503/507 with one log line: an application
    need not catch them.
    """

    engine: str

    async def lookup(self, fn: Callable[[Connection], T]) -> T: ...

    async def read(self, fn: Callable[[Connection], T]) -> T: ...

    async def write(self, fn: Callable[[Connection], T]) -> T: ...
