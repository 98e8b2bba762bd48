"""The embedded SQLite database: one owner of every connection.

Why two connections: reads are short and run directly on the event-loop thread, so
a ``GET`` costs no thread hop; writes go to a single writer thread, because a
durable commit waits for ``fsync`` and must not stall the loop, and because SQLite
allows one writer at a time anyway. WAL mode lets the reader see committed data
while the writer works.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from onebin.errors import StoreError
from onebin.store.migrations import Migration, apply_migrations

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection with the pragmas every onebin connection needs.

    ``isolation_level=None`` turns off the sqlite3 module's implicit transactions so
    that every transaction is explicit (``BEGIN IMMEDIATE`` for writes): a write
    then takes the lock up front instead of failing half-way on upgrade.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block as one ``BEGIN IMMEDIATE`` transaction: all of it, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteDatabase:
    """SQLite file in the data directory, migrated on open.

    Contract: ``read`` functions must not write and run on the caller's thread;
    ``write`` functions run one at a time, in order, inside one transaction each,
    and their result is returned only after the commit is durable (per the
    ``synchronous`` setting). A write that raises leaves nothing behind.
    """

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Migration],
        *,
        synchronous: str = "FULL",
    ) -> None:
        self.path = path
        self.migrations = tuple(migrations)
        self.synchronous = synchronous
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._write_thread: ThreadPoolExecutor | None = None
        self._write_lock: int | None = None

    def open(self) -> None:
        """Create the file if needed, apply pending migrations, open both connections."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = connect(self.path, synchronous=self.synchronous)
            apply_migrations(self._writer, self.migrations)
            self._reader = connect(self.path, synchronous=self.synchronous)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._write_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        lock_path = self.path.with_name(self.path.name + ".write-lock")
        self._write_lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def close(self) -> None:
        """Finish queued writes, fold the WAL back into the main file, close."""
        if self._write_thread is not None:
            self._write_thread.shutdown(wait=True)
            self._write_thread = None
        if self._write_lock is not None:
            os.close(self._write_lock)
            self._write_lock = None
        if self._writer is not None:
            # Another process may hold the WAL; SQLite then checkpoints later anyway.
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer.close()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> SQLiteDatabase:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise StoreError("database is not open")
        return fn(self._reader)

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction, queued behind other processes' writers.

        With ``--workers`` several processes write. SQLite's own busy handler sleeps
        and retries (naps of up to 100 ms), which left a contended write waiting about
        a second at p99; a blocking ``flock`` wakes the next writer as soon as the
        previous one commits.
        """
        if self._writer is None or self._write_lock is None:
            raise StoreError("database is not open")
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            with write_transaction(self._writer) as conn:
                return fn(conn)
        finally:
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self.read_sync(fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._write_thread is None:
            raise StoreError("database is not open")
        loop = asyncio.get_running_loop()
        # shield: once queued, the write completes even if the client goes away,
        # so what the caller sees and what is on disk never disagree.
        future = loop.run_in_executor(self._write_thread, self.write_sync, fn)
        return await asyncio.shield(future)

    async def ping(self) -> None:
        """Prove the file is readable; used by ``/healthz``."""
        self.read_sync(lambda conn: conn.execute("SELECT 1 FROM schema_migrations LIMIT 1"))
