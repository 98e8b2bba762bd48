"""The single writer: group commit of queued writes, one durable commit per batch.

A durable commit costs an fsync and the cross-process write lock; paying both per
write capped ``POST`` at about 2,000/s. Here the writes waiting in the queue (up to
``max_batch``) share one transaction: each runs in its own SAVEPOINT, so a write
that fails rolls back alone, then one COMMIT makes them all durable, and only then
does each caller hear "done".

Who does what. The COMMIT's fsync blocks, so it runs on a helper thread; so does
waiting for the locks (``flock``, ``BEGIN IMMEDIATE``) when they are taken, which
is tried on the loop first, without waiting. The write functions themselves run on
the event loop, between the two: they are a few indexed statements each, and a
thread would have to take the GIL back after every one of them while the loop holds
it, which made each write wait on the loop several times over (measured: ~140 us of
waiting per write, more than the write's own cost).

Deadlines: a write that has not started when its caller stops waiting is dropped
and never runs, so "timed out" always means "nothing written". A started write gets
the query deadline for its own statements.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from onebin.errors import StoreError, WriteTimeout
from onebin.store.deadline import Watchdog
from onebin.store.faults import SQLITE_BUSY, SQLITE_LOCKED, result_code, translate

MAX_BATCH = 64
LOCK_POLL_SECONDS = 0.01

WriteFn = Callable[[sqlite3.Connection], Any]


class Write:
    """One queued write: its function, and the future its caller awaits."""

    __slots__ = ("fn", "future", "started")

    def __init__(self, fn: WriteFn, future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        self.started = False


class Transaction:
    """The steps of one write transaction on ``conn``; the same for a batch or a single
    write from the command line. ``lock_fd`` is locked by every onebin process of the
    data directory around its write transactions: SQLite's own busy handler polls with
    naps of up to 100 ms, a blocking ``flock`` wakes the next writer as soon as it is free.
    """

    def __init__(
        self, conn: sqlite3.Connection, lock_fd: int, watchdog: Watchdog, query_timeout: float
    ) -> None:
        self.conn = conn
        self.lock_fd = lock_fd
        self.watchdog = watchdog
        self.query_timeout = query_timeout

    def fault(self, error: BaseException) -> BaseException:
        return translate(error, query_timeout=self.query_timeout)

    def try_begin(self) -> bool:
        """Take both locks if both are free right now; never waits (it runs on the loop).

        The connection's busy timeout is 0, so a SQLite lock held by some other
        program answers at once instead of after seconds.
        """
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            return False
        return True

    def begin(self, timeout: float | None = None) -> None:
        """Take both locks, waiting (for ever, or up to ``timeout``); on failure nothing
        is held. Waiting happens here, on a thread, never on the event loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if deadline is None:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        else:
            self._lock_until(deadline)
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.Error as error:
                busy = result_code(error) in (SQLITE_BUSY, SQLITE_LOCKED)
                if busy and (deadline is None or time.monotonic() < deadline):
                    time.sleep(LOCK_POLL_SECONDS)  # another program holds SQLite's lock
                    continue
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
                raise self.fault(error)  # noqa: B904 - cause kept

    def _lock_until(self, deadline: float) -> None:
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriteTimeout(
                        "the write lock stayed busy past the write timeout (is a server frozen?)"
                    ) from None
                time.sleep(LOCK_POLL_SECONDS)

    def run(self, fn: WriteFn) -> tuple[bool, Any]:
        """Run ``fn`` in a savepoint: (True, result), or (False, error) with only it undone.

        Raises ``TransactionLost`` when SQLite has rolled back the whole transaction.
        """
        try:
            self.conn.execute("SAVEPOINT write")
            with self.watchdog.deadline(self.conn, self.query_timeout):
                result = fn(self.conn)
            self.conn.execute("RELEASE write")
        except BaseException as error:  # the caller gets it, whatever it is
            if not self._roll_back_one():
                # Disk full, I/O error, interrupt: SQLite undid the whole transaction.
                raise TransactionLost(self.fault(error)) from error
            return False, self.fault(error)
        return True, result

    def commit(self) -> None:
        """Make the transaction durable and release the locks, or roll back and raise."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            raise self.fault(error)  # noqa: B904 - cause kept
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def abandon(self) -> None:
        """Roll back whatever is open and release the lock (also when nothing is held)."""
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

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

    def once(self, fn: WriteFn, timeout: float) -> Any:
        """One write in its own transaction, on the calling thread (the command line)."""
        self.begin(timeout)
        try:
            done, outcome = self.run(fn)
        except TransactionLost as lost:
            self.abandon()
            raise lost.error from None
        if not done:
            self.abandon()
            raise outcome
        self.commit()
        return outcome


class TransactionLost(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


_Job = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"]


class _Blocking:
    """One daemon thread for the blocking steps, in order.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so a thread
    stuck behind a frozen process's lock would keep the process from ever exiting.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.last: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.last.set_result(None)
        self._thread = threading.Thread(target=self._work, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, step: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((step, future))
        self.last = future
        return future

    async def idle(self) -> None:
        """Wait until every step submitted so far has run (they run in order)."""
        if not self.last.done():
            await asyncio.wrap_future(self.last)

    async def run(self, step: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self.submit(step))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            step, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(step())
            except BaseException as error:
                future.set_exception(error)

    def close(self, timeout: float | None) -> bool:
        self._jobs.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()


class GroupWriter:
    """Queues writes from the event loop and commits them in batches."""

    def __init__(self, transaction: Transaction, *, max_batch: int = MAX_BATCH) -> None:
        self.transaction = transaction
        self.max_batch = max_batch
        self._queue: deque[Write] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._thread = _Blocking()
        self._closing = False
        # Called on the event loop after every commit (``SQLiteDatabase.on_commit``).
        self.committed: list[Callable[[], None]] = []

    def submit(self, fn: WriteFn) -> Write:
        """Queue ``fn``; its future resolves after the commit that includes it."""
        if self._closing:
            raise StoreError("database is closed")
        loop = asyncio.get_running_loop()
        write = Write(fn, loop.create_future())
        self._queue.append(write)
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._drain())
        return write

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking writes; False if the thread is still stuck after ``timeout``.

        A thread stuck waiting for a frozen process's lock cannot be interrupted; it
        holds nothing anyone was promised, and it does not keep the process alive.
        """
        self._closing = True
        return self._thread.close(timeout)

    async def _drain(self) -> None:
        while self._queue:
            try:
                # The thread may still be busy with an earlier pump's steps (one that
                # was cancelled while waiting for the locks): the connection is its
                # until then.
                await self._thread.idle()
                if not self.transaction.try_begin():
                    await self._thread.run(self.transaction.begin)
            except asyncio.CancelledError:
                # The loop is going away while the thread waits for the locks: whenever
                # it gets them, it gives them back.
                self._thread.submit(self.transaction.abandon)
                raise
            except Exception as error:
                # No locks held: every write waiting now is refused with the fault.
                self._fail(self._take(), error)
                continue
            batch = self._take()  # after the wait for the locks: whoever arrived meanwhile
            done = self._run(batch)
            if done is None:
                await self._thread.run(self.transaction.abandon)
                continue
            try:
                await self._thread.run(self.transaction.commit)
            except Exception as error:
                self._fail([write for write, _ in done], error)
                continue
            for write, result in done:
                if not write.future.done():
                    write.future.set_result(result)
            for callback in self.committed:
                callback()

    def _take(self) -> list[Write]:
        batch: list[Write] = []
        while self._queue and len(batch) < self.max_batch:
            write = self._queue.popleft()
            if not write.future.done():  # its caller gave up before it started
                write.started = True
                batch.append(write)
        return batch

    def _run(self, batch: list[Write]) -> list[tuple[Write, Any]] | None:
        """Run the batch's writes; None when the transaction was lost on the way."""
        done: list[tuple[Write, Any]] = []
        for position, write in enumerate(batch):
            try:
                ok, outcome = self.transaction.run(write.fn)
            except TransactionLost as lost:
                # Nothing before this write is committed either; the ones after it
                # go first into the next transaction.
                self._fail([w for w, _ in done] + [write], lost.error)
                self._queue.extendleft(reversed(batch[position + 1 :]))
                return None
            if ok:
                done.append((write, outcome))
            elif not write.future.done():
                write.future.set_exception(outcome)
        return done

    @staticmethod
    def _fail(writes: list[Write], error: BaseException) -> None:
        for write in writes:
            if not write.future.done():
                write.future.set_exception(error)
