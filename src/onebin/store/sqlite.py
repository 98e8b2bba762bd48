"""The embedded SQLite database: one owner of every connection, thread and deadline.

Three ways in, each on its own connection (WAL lets readers and the writer work at
once):

- ``lookup``: a read bounded by an index lookup (one row by its key) runs right on
  the calling thread, the event loop's, because a thread hop would cost more than
  the query;
- ``read``: anything that can be slow (search) runs on a reader thread;
- ``write``: queued writes are committed in groups, the locks and the fsync on a
  helper thread (``writer``).

Every query has a deadline (``query_timeout``); a write that cannot start within
``write_timeout`` is dropped unrun. SQLite errors reach callers as the faults of
``onebin.errors`` (full disk, damaged file, timeout), never as raw ``sqlite3`` errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from onebin.errors import DatabaseDamaged, StoreError, WriteTimeout
from onebin.store.connection import APPLICATION_ID, check_owner, connect
from onebin.store.deadline import Watchdog
from onebin.store.faults import translate
from onebin.store.files import PRIVATE_FILE, private_dir, private_file, tighten_database_files
from onebin.store.integrity import note_clean_close
from onebin.store.migrations import Migration, apply_migrations
from onebin.store.readers import ReaderPool
from onebin.store.writer import GroupWriter, Transaction

T = TypeVar("T")

# Slow reads may use every core but the one the event loop needs: measured on 2 cores,
# two readers doubled the p99 of cheap requests beside 8 searching clients, one did not.
DEFAULT_READERS = max(1, len(os.sched_getaffinity(0)) - 1)
# After a checkpoint that lets the WAL start over, its file is cut back to this size.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


class SQLiteDatabase:
    """SQLite file in the data directory, migrated on open.

    Contract: ``lookup``/``read`` functions must not write; ``write`` functions run
    one at a time, in order, on the event loop, each inside its own savepoint of a
    group transaction, and their result is returned only after that transaction's
    commit is durable (per the ``synchronous`` setting). A write that raises leaves
    nothing behind. A write function must be short (a few indexed statements): it
    runs on the event loop, under the query deadline. It satisfies ``Database``.
    """

    engine = "sqlite"

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Migration],
        *,
        synchronous: str = "FULL",
        query_timeout: float = 2.0,
        write_timeout: float = 5.0,
        readers: int = DEFAULT_READERS,
    ) -> None:
        self.path = path
        self.migrations = tuple(migrations)
        self.synchronous = synchronous
        self.query_timeout = query_timeout
        self.write_timeout = write_timeout
        self.readers = readers
        self._watchdog: Watchdog | None = None
        self._writer: GroupWriter | None = None
        self._transaction: Transaction | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._pool: ReaderPool | None = None
        self._write_lock: int | None = None
        # Set when a query finds the file damaged: readiness then fails until a restore.
        self.damage: str | None = None

    def open(self) -> None:
        """Create the file if needed, apply pending migrations, start the threads.

        A file that belongs to another application is refused before anything is
        written to it (``ForeignDatabase``).
        """
        private_dir(self.path.parent)
        check_owner(self.path)
        try:
            private_file(self.path)
            tighten_database_files(self.path)
            self._write_conn = connect(self.path, synchronous=self.synchronous)
            apply_migrations(self._write_conn, self.migrations, application_id=APPLICATION_ID)
            # The writer never waits inside SQLite: it waits on the write lock, off
            # the loop. Its commits checkpoint (SQLite's default, every 1,000 pages):
            # only a checkpoint right after a commit lets the next write start the
            # WAL over, so one beside the writers let it grow by GBs under steady writes.
            self._write_conn.execute("PRAGMA busy_timeout = 0")
            self._write_conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            self._inline = connect(self.path, synchronous=self.synchronous)
            lock_path = self.path.with_name(self.path.name + ".write-lock")
            self._write_lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            fault = translate(exc, query_timeout=self.query_timeout)
            reason = fault if fault is not exc else exc
            raise StoreError(f"cannot open database {self.path}: {reason}") from exc
        except StoreError as exc:  # a migration refused: another app's, newer, or failing
            self.close()
            raise type(exc)(f"cannot open database {self.path}: {exc}") from exc
        self._watchdog = Watchdog()
        self._transaction = Transaction(
            self._write_conn, self._write_lock, self._watchdog, self.query_timeout
        )
        self._writer = GroupWriter(self._transaction)
        self._pool = ReaderPool(
            lambda: connect(self.path, synchronous=self.synchronous),
            self._watchdog,
            size=self.readers,
            query_timeout=self.query_timeout,
        )

    def close(self, timeout: float | None = None) -> None:
        """Finish queued writes, fold the WAL back into the main file, close.

        If the writer is stuck behind a frozen process's lock for longer than
        ``timeout``, it is abandoned: nothing it holds was acknowledged.
        """
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        writer_done = self._writer.close(timeout) if self._writer is not None else True
        self._writer = None
        self._transaction = None
        if self._write_conn is not None and writer_done:
            # Another process may hold the WAL; SQLite then checkpoints later anyway.
            with contextlib.suppress(sqlite3.Error):
                self._write_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._write_conn.close()
        self._write_conn = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        if self._write_lock is not None and writer_done:
            os.close(self._write_lock)
        self._write_lock = None
        if writer_done:
            note_clean_close(self.path)

    def __enter__(self) -> SQLiteDatabase:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the calling thread, with the query deadline."""
        if self._inline is None or self._watchdog is None:
            raise StoreError("database is not open")
        try:
            with self._watchdog.deadline(self._inline, self.query_timeout):
                return fn(self._inline)
        except sqlite3.Error as error:
            raise translate(error, query_timeout=self.query_timeout)  # noqa: B904 - cause kept

    async def lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read bounded by an index lookup, on the event loop's own connection."""
        try:
            return self.read_sync(fn)
        except DatabaseDamaged as error:
            self.damage = str(error)
            raise

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read that may be slow, on a reader thread."""
        if self._pool is None:
            raise StoreError("database is not open")
        try:
            return await self._pool.run(fn)
        except DatabaseDamaged as error:
            self.damage = str(error)
            raise

    def _timed_out(self, timeout: float) -> WriteTimeout:
        return WriteTimeout(
            f"the write could not start within {timeout:g}s: the database is busy; try again"
        )

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One write in its own transaction on the calling thread, for a process without
        an event loop (the command line); never beside ``write`` in the same process."""
        if self._transaction is None:
            raise StoreError("database is not open")
        result: T = self._transaction.once(fn, self.write_timeout)
        return result

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the event loop after each commit of ``write``s (not of
        ``write_sync``, which has no loop): waiters in this process need not poll."""
        if self._writer is None:
            raise StoreError("database is not open")
        self._writer.committed.append(callback)

    async def write(
        self, fn: Callable[[sqlite3.Connection], T], *, timeout: float | None = None
    ) -> T:
        """Run ``fn`` in the next group commit; raises ``WriteTimeout`` if it cannot start.

        Once started, a write is seen through even if the caller is cancelled (a
        client that went away, a shutdown), so the answer and the disk agree.
        """
        if self._writer is None:
            raise StoreError("database is not open")
        limit = self.write_timeout if timeout is None else timeout
        write = self._writer.submit(fn)

        def expire() -> None:
            if not write.started and not write.future.done():
                write.future.set_exception(self._timed_out(limit))

        timer = asyncio.get_running_loop().call_later(limit, expire)
        try:
            try:
                return await asyncio.shield(write.future)
            except asyncio.CancelledError:
                if not write.started:
                    write.future.cancel()
                    raise
                return await asyncio.shield(write.future)
        except DatabaseDamaged as error:
            self.damage = str(error)
            raise
        finally:
            timer.cancel()
