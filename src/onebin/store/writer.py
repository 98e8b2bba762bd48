"""The single writer: group commit of queued writes, one durable commit per batch.

A durable commit costs an fsync and the cross-process write lock; paying both per
write capped ``POST`` at about 2,000/s. The writer thread instead takes every write
waiting in its queue (up to ``max_batch``), runs each in its own SAVEPOINT so a
write that fails rolls back alone, commits once, and only then answers each
write: nobody hears "done" before the commit is on disk.

Deadlines: a write that has not started when its caller stops waiting is cancelled
and never runs (``concurrent.futures.Future.cancel`` succeeds only before
``set_running_or_notify_cancel``), so "timed out" always means "nothing written".
A write that has started gets the query deadline for its own statements.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from onebin.errors import StoreError
from onebin.store.deadline import Watchdog
from onebin.store.faults import translate

logger = logging.getLogger("onebin.store")

MAX_BATCH = 128

WriteFn = Callable[[sqlite3.Connection], Any]


class _Write:
    __slots__ = ("fn", "future")

    def __init__(self, fn: WriteFn) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()


class GroupWriter:
    """Owns the write connection and the thread that commits queued writes in batches.

    ``lock_fd`` is a file every onebin process of the data directory locks around its
    write transactions: SQLite's own busy handler polls with naps of up to 100 ms, a
    blocking ``flock`` wakes the next writer as soon as the lock is free.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock_fd: int,
        watchdog: Watchdog,
        *,
        query_timeout: float,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.conn = conn
        self.lock_fd = lock_fd
        self.watchdog = watchdog
        self.query_timeout = query_timeout
        self.max_batch = max_batch
        self._queue: deque[_Write] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: WriteFn) -> Future[Any]:
        """Queue ``fn``; its future resolves after the commit that includes it."""
        write = _Write(fn)
        with self._ready:
            if self._closing:
                raise StoreError("database is closed")
            self._queue.append(write)
            self._ready.notify()
        return write.future

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float | None = None) -> bool:
        """Finish what is queued, then stop; False if the thread is still stuck after ``timeout``.

        A thread stuck waiting for a frozen process's lock cannot be interrupted; it is
        a daemon, so it does not keep the process alive.
        """
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while batch := self._take():
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
            try:
                self._commit(batch)
            finally:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def _take(self) -> list[_Write]:
        with self._ready:
            while not self._queue and not self._closing:
                self._ready.wait()
            batch = []
            while self._queue and len(batch) < self.max_batch:
                batch.append(self._queue.popleft())
            return batch

    def _begin(self, writes: list[_Write]) -> bool:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            self._fail(writes, error)
            return False
        return True

    def _commit(self, batch: list[_Write]) -> None:
        # Started only once the locks are held: until then a caller may still give up.
        live = [write for write in batch if write.future.set_running_or_notify_cancel()]
        if not live or not self._begin(live):
            return
        done: list[tuple[_Write, Any]] = []
        for position, write in enumerate(live):
            try:
                self.conn.execute("SAVEPOINT write")
                with self.watchdog.deadline(self.conn, self.query_timeout):
                    result = write.fn(self.conn)
                self.conn.execute("RELEASE write")
            except BaseException as error:  # the caller gets it, whatever it is
                if self._roll_back_one():
                    write.future.set_exception(translate(error, query_timeout=self.query_timeout))
                    continue
                # SQLite rolled back the whole transaction (disk full, I/O error,
                # interrupt): nothing before this write is committed either.
                self._fail([w for w, _ in done] + [write], error)
                done = []
                if not self._begin(live[position + 1 :]):
                    return
            else:
                done.append((write, result))
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            self._fail([w for w, _ in done], error)
            return
        for write, result in done:
            write.future.set_result(result)

    def _roll_back_one(self) -> bool:
        """Undo the current write only; False when the transaction itself is gone."""
        if not self.conn.in_transaction:
            return False
        try:
            self.conn.execute("ROLLBACK TO write")
            self.conn.execute("RELEASE write")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            return False
        return True

    def _fail(self, writes: list[_Write], error: BaseException) -> None:
        for write in writes:
            write.future.set_exception(translate(error, query_timeout=self.query_timeout))
