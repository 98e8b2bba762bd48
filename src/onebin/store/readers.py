"""Reads that can be slow run here, off the event loop, each with a deadline.

A search over a million rows takes tens of milliseconds even with an index; on the
event-loop thread it would stall every other request for that long. Each reader
thread has its own connection (WAL lets readers run beside the writer), and runs at
a lower CPU priority than the event loop, so on a busy machine the loop that
answers cheap requests is scheduled first.

The deadline counts from the moment the read is asked for: time spent waiting for a
free reader counts, so a queue of searches cannot make one wait for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from onebin.errors import QueryTimeout
from onebin.store.deadline import Watchdog
from onebin.store.faults import translate

T = TypeVar("T")

# Nice value of reader threads, relative to the process (Linux schedules threads
# individually, so this lowers only them).
READER_NICENESS = 5


class ReaderPool:
    """``size`` threads, each with a connection made by ``connect``."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        watchdog: Watchdog,
        *,
        size: int,
        query_timeout: float,
    ) -> None:
        self._connect = connect
        self.watchdog = watchdog
        self.query_timeout = query_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=size, thread_name_prefix="sqlite-reader", initializer=self._start_thread
        )

    def _start_thread(self) -> None:
        with contextlib.suppress(OSError):  # only lowers priority; never fatal
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICENESS)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        asked = time.monotonic()
        # In the caller's context: what the thread logs carries the request's id.
        future = self._executor.submit(contextvars.copy_context().run, self._call, fn, asked)
        return await asyncio.wrap_future(future)

    def _call(self, fn: Callable[[sqlite3.Connection], T], asked: float) -> T:
        left = self.query_timeout - (time.monotonic() - asked)
        if left <= 0:
            raise QueryTimeout(
                f"no reader was free within {self.query_timeout:g}s; the server is busy"
            )
        try:
            conn = self._connection()
            with self.watchdog.deadline(conn, left):
                return fn(conn)
        except sqlite3.Error as error:
            raise translate(error, query_timeout=self.query_timeout)  # noqa: B904 - cause kept

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
