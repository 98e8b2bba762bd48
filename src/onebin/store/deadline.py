"""Query deadlines: one watchdog thread interrupts a connection whose query ran too long.

SQLite offers two ways to stop a query: a progress handler that it calls every N
virtual-machine steps, and ``sqlite3_interrupt()`` from another thread. Python's
progress handler takes the GIL on every call, so a long search in a reader thread
would keep snatching the GIL from the event loop; an interrupt needs no GIL on the
querying side. The watchdog sleeps until the earliest deadline and interrupts only
while that query is still running: arming, disarming and interrupting happen under
one lock, so an interrupt can never hit the next query on the same connection.
"""

from __future__ import annotations

import heapq
import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class _Ticket:
    __slots__ = ("active", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.active = True


class Watchdog:
    """Interrupts queries that outlive their deadline; ``deadline()`` wraps one query."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Ticket]] = []
        self._order = itertools.count()
        self._changed = threading.Condition(threading.Lock())
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sqlite-watchdog", daemon=True)
        self._thread.start()

    @contextmanager
    def deadline(self, conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
        """Run the block with ``conn`` interrupted if it is still busy after ``seconds``."""
        ticket = _Ticket(conn)
        at = time.monotonic() + seconds
        with self._changed:
            heapq.heappush(self._heap, (at, next(self._order), ticket))
            if self._heap[0][2] is ticket:
                self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                ticket.active = False

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                # Finished queries leave their tickets behind; drop them from the top.
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._changed.wait()
                    continue
                at, _, ticket = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._changed.wait(delay)
                    continue
                heapq.heappop(self._heap)
                ticket.active = False
                ticket.conn.interrupt()
