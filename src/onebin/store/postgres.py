"""PostgreSQL behind the same contract as SQLite: a pool of connections, a deadline on
every query, faults as onebin's errors, and recovery without a restart.

How it differs from the SQLite engine, and why:

- every ``lookup``, ``read`` and ``write`` runs on a thread with a pooled connection
  (``psycopg_pool``): a query is a network round trip, which the event loop must
  not wait on, and PostgreSQL runs many transactions at once, so writes need no
  group commit to share an fsync (the server's own WAL flush does that);
- each write is one transaction of its own, committed before its result is
  returned; reads run in read-only transactions, which enforces the contract that
  they do not write;
- ``statement_timeout`` is set on every connection to ``query_timeout``: the server
  stops a slow query itself, and the client hears ``QueryTimeout``;
- a write that cannot get a connection within ``write_timeout`` is refused unrun.

Faults (``pg_faults``) and an outage. When the server goes away, a request learns
it from its own connection or from a connection attempt, and the engine remembers
the outage: later requests wait only ``OUTAGE_WAIT`` for a connection before they
get ``DatabaseUnavailable``, so clients hear 503 at once instead of queueing. The
pool keeps reconnecting in the background (its retries are bounded by
``RECONNECT_WINDOW`` so the gap between them stays short); the first new
connection ends the outage. A connection that died while idle (a server restart)
is found when its transaction starts, before anything of the caller's ran, so the
request is retried on a fresh connection and the old ones are dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from time import monotonic
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from onebin.errors import DatabaseUnavailable, QueryTimeout, StoreError, StoreFault, WriteTimeout
from onebin.store.migrations import Migration
from onebin.store.pg_faults import classify, translate
from onebin.store.pg_migrations import apply_migrations
from onebin.values import redact, scrub

T = TypeVar("T")
Connection = psycopg.Connection[dict[str, Any]]

# Connections per process: enough for the threads' concurrent queries; with
# --workers N a server takes N times this of PostgreSQL's max_connections (100).
DEFAULT_POOL_SIZE = 8
# Seconds libpq may take to connect when the URL does not say (connect_timeout):
# without one a server that drops packets would hold a request for minutes.
DEFAULT_CONNECT_TIMEOUT = 5
# While the server is known to be down, how long a request waits for a connection
# before it is answered 503: long enough for one reconnect to a server that is back.
OUTAGE_WAIT = 0.5
# The pool retries a lost connection with a doubling delay for this long, then
# starts over on the next request: so after a long outage the next retry is never
# more than a few seconds away.
RECONNECT_WINDOW = 5.0
# At most one drain of stale connections per this many seconds (a restart breaks
# every idle connection at once, and each request that finds one would drain).
DRAIN_INTERVAL = 1.0
# Tries per request when its connection turns out dead before the transaction began.
ATTEMPTS = 3

# psycopg_pool logs every checkout at INFO: one line per query at onebin's default
# level. Its warnings (failed reconnects) stay.
logging.getLogger("psycopg.pool").setLevel(logging.WARNING)


# libpq's names; none has a PG* environment variable, so only the URL overrides them.
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
}


class _StaleConnection(Exception):
    """The pooled connection was dead before the transaction began: nothing ran."""


def connection_options(url: str, *, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """libpq parameters onebin adds to the URL's, without overriding any it names.

    A setting in the URL (``connect_timeout=2``) or in libpq's environment
    (``PGCONNECT_TIMEOUT``) wins over onebin's default.
    """
    environ = dict(os.environ) if environ is None else environ
    given = conninfo_to_dict(url)
    options: dict[str, Any] = {"row_factory": dict_row, "autocommit": False}
    if "connect_timeout" not in given and "PGCONNECT_TIMEOUT" not in environ:
        options["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
    if "application_name" not in given and "PGAPPNAME" not in environ:
        options["application_name"] = "onebin"
    # A server that vanishes without closing the connection (a host lost, a network
    # cut) would otherwise hold a request's thread for the kernel's default of about
    # two hours: TCP keepalives and an unacknowledged-data limit notice it in ~30 s.
    for name, value in KEEPALIVE.items():
        if name not in given:
            options[name] = value
    return options


class PostgresDatabase:
    """A PostgreSQL database named by a libpq URL, migrated on open. Satisfies ``Engine``.

    Contract (the same as ``SQLiteDatabase``'s where it matters to callers):
    ``lookup``/``read`` functions run in read-only transactions; a ``write``
    function runs in a transaction of its own, rolled back if it raises, and its
    result is returned only after the COMMIT. Database faults reach callers as
    ``StoreFault`` subclasses; other psycopg errors (a constraint, bad SQL) pass
    through. Rows are dicts (``row["name"]``).
    """

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        migrations: Sequence[Migration],
        *,
        query_timeout: float = 2.0,
        write_timeout: float = 5.0,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.url = url
        self.migrations = tuple(migrations)
        self.query_timeout = query_timeout
        self.write_timeout = write_timeout
        self.pool_size = pool_size
        # Never set: PostgreSQL guards its own files; damage it reports is a fault.
        self.damage: str | None = None
        self._options: dict[str, Any] = {}
        self._pool: ConnectionPool[Connection] | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Why the server cannot be used, while it cannot; None when it is fine.
        self._outage: str | None = None
        self._drained_at = 0.0
        self._drain_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresDatabase({redact(self.url)!r})"

    @property
    def where(self) -> str:
        """The URL without its password, for messages."""
        return redact(self.url)

    def open(self) -> None:
        """Connect, apply pending migrations (once, whoever else starts now), fill the pool.

        The first connection is made directly, not by the pool, so a wrong password,
        a missing database or a refused connection is reported in libpq's words.
        """
        try:
            self._options = connection_options(self.url)
            with psycopg.connect(self.url, **self._options) as conn:
                apply_migrations(conn, self.migrations)
        except psycopg.Error as error:
            raise StoreError(f"cannot open database {self.where}: {self._reason(error)}") from None
        pool: ConnectionPool[Connection] = ConnectionPool(
            self.url,
            kwargs=self._options,
            min_size=min(2, self.pool_size),
            max_size=self.pool_size,
            open=False,
            configure=self._configure,
            name="onebin",
            timeout=self.write_timeout,
            reconnect_timeout=RECONNECT_WINDOW,
        )
        try:
            pool.open(wait=True, timeout=max(self.write_timeout, DEFAULT_CONNECT_TIMEOUT))
        except PoolTimeout:
            pool.close()
            raise StoreError(f"cannot open database {self.where}: no connection") from None
        self._pool = pool
        self._executor = ThreadPoolExecutor(self.pool_size, thread_name_prefix="onebin-pg")

    def _reason(self, error: BaseException) -> str:
        """libpq's message, without the password it may echo (from a URL it cannot parse)."""
        return scrub(str(translate(error, query_timeout=self.query_timeout)), self.url)

    def close(self, timeout: float | None = None) -> None:
        """Let running calls finish (unless ``timeout`` says not to wait), drop queued
        ones, close the connections."""
        if self._executor is not None:
            self._executor.shutdown(wait=timeout is None, cancel_futures=True)
            self._executor = None
        if self._pool is not None:
            self._pool.close(timeout=5.0 if timeout is None else timeout)
            self._pool = None

    def __enter__(self) -> PostgresDatabase:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _configure(self, conn: Connection) -> None:
        """Every new connection: the query deadline. A new connection also ends an outage."""
        conn.autocommit = True
        conn.execute(f"SET statement_timeout = {round(self.query_timeout * 1000)}")
        conn.autocommit = False
        self._outage = None

    # The four ways in. Each counts its deadline from the moment it is asked.

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        """A read on the calling thread (the command line)."""
        return self._run(fn, read_only=True, limit=self.query_timeout, asked=monotonic())

    def write_sync(self, fn: Callable[[Connection], T]) -> T:
        """A write in its own transaction on the calling thread (the command line)."""
        return self._run(fn, read_only=False, limit=self.write_timeout, asked=monotonic())

    async def lookup(self, fn: Callable[[Connection], T]) -> T:
        """A read bounded by an index lookup; on a thread, as a round trip is I/O.

        It runs without BEGIN/COMMIT (autocommit): a lookup is one statement, so a
        transaction around it would only add two round trips, tripling its cost.
        """
        return await self._submit(fn, read_only=True, limit=self.query_timeout, single=True)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """A read that may be slow, on a thread."""
        return await self._submit(fn, read_only=True, limit=self.query_timeout)

    async def write(self, fn: Callable[[Connection], T], *, timeout: float | None = None) -> T:
        """``fn`` in a transaction of its own; ``WriteTimeout`` if it cannot start in time.

        A write that has started is seen through on its thread even if the caller is
        cancelled (the client went away), so the database never holds half of it; one
        still queued when the caller is cancelled never runs.
        """
        limit = self.write_timeout if timeout is None else timeout
        return await self._submit(fn, read_only=False, limit=limit)

    async def _submit(
        self, fn: Callable[[Connection], T], *, read_only: bool, limit: float, single: bool = False
    ) -> T:
        if self._executor is None:
            raise StoreError("database is not open")
        # In the caller's context (as ``asyncio.to_thread``), so that what the thread
        # logs carries the request's id.
        call = functools.partial(
            contextvars.copy_context().run,
            self._run,
            fn,
            read_only=read_only,
            limit=limit,
            asked=monotonic(),
            single=single,
        )
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _run(
        self,
        fn: Callable[[Connection], T],
        *,
        read_only: bool,
        limit: float,
        asked: float,
        single: bool = False,
    ) -> T:
        """Run ``fn`` in one transaction on a pooled connection; faults as onebin's errors.

        ``limit`` counts from ``asked``: time spent queued for a thread counts too, so
        a write that waited too long is refused before it starts, never after.
        """
        pool = self._pool
        if pool is None:
            raise StoreError("database is not open")
        deadline = asked + limit
        for attempt in range(ATTEMPTS):
            left = deadline - monotonic()
            if left <= 0:
                raise self._refuse(self._busy(read_only, limit), probe=False)
            if self._outage is not None or attempt > 0:
                left = min(left, OUTAGE_WAIT)
            try:
                conn = pool.getconn(timeout=left)
            except PoolTimeout:
                raise self._refuse(self._busy(read_only, limit), probe=True) from None
            try:
                if single:
                    result = self._autocommit(conn, fn)
                else:
                    result = self._transaction(conn, fn, read_only=read_only)
            except _StaleConnection:
                self._drain(pool)
                continue
            except psycopg.Error as error:
                fault = classify(error, query_timeout=self.query_timeout, writing=not read_only)
                if fault is None:
                    raise
                if isinstance(fault, DatabaseUnavailable):
                    self._outage = str(fault)
                raise fault from error
            finally:
                pool.putconn(conn)
            self._outage = None
            return result
        raise self._refuse(self._busy(read_only, limit), probe=True)

    @staticmethod
    def _transaction(conn: Connection, fn: Callable[[Connection], T], *, read_only: bool) -> T:
        """``fn`` between BEGIN and COMMIT (ROLLBACK if it raises).

        psycopg sends BEGIN on entering the block, before ``fn``: if that fails on a
        dead connection, nothing of ``fn`` ran and the request may go elsewhere.
        """
        conn.read_only = read_only
        began = False
        try:
            with conn.transaction():
                began = True
                return fn(conn)
        except psycopg.OperationalError:
            if not began and conn.broken:
                raise _StaleConnection from None
            raise

    @staticmethod
    def _autocommit(conn: Connection, fn: Callable[[Connection], T]) -> T:
        """``fn`` (a read) with each statement its own transaction: one round trip.

        A read can run again safely, so a connection found dead here is retried on a
        fresh one, as ``_transaction`` retries one that died before BEGIN.
        """
        conn.autocommit = True
        try:
            return fn(conn)
        except psycopg.OperationalError:
            if conn.broken:
                raise _StaleConnection from None
            raise
        finally:
            if not conn.broken:
                conn.autocommit = False

    def _drain(self, pool: ConnectionPool[Connection]) -> None:
        """Replace the pool's idle connections: after one was found dead, so are its peers."""
        with self._drain_lock:
            if monotonic() - self._drained_at < DRAIN_INTERVAL:
                return
            self._drained_at = monotonic()
        pool.drain()

    def _refuse(self, busy: StoreFault, *, probe: bool) -> StoreFault:
        """Why no connection came: the server is gone (``DatabaseUnavailable``) or busy
        (``busy``).

        A known outage answers at once; otherwise, with ``probe``, one direct
        connection attempt (bounded by ``connect_timeout``) tells the two apart.
        """
        if self._outage is None and probe:
            try:
                psycopg.connect(self.url, **self._options).close()
            except psycopg.Error as error:
                self._outage = self._reason(error)
        if self._outage is not None:
            return DatabaseUnavailable(self._outage)
        return busy

    def _busy(self, read_only: bool, limit: float) -> StoreFault:
        if read_only:
            return QueryTimeout(f"no database connection came free within {limit:g}s; try again")
        return WriteTimeout(
            f"the write could not start within {limit:g}s: the database is busy; try again"
        )
