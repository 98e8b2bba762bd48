"""Query deadlines: one watchdog thread interrupts a connection whose query ran too long.

SQLite offers two ways to stop a query: a progress handler that it calls every N
virtual-machine steps, and ``sqlite3_interrupt()`` from another thread. Python's
progress handler takes the GIL on every call, so a long search in a reader thread
would keep snatching the GIL from the event loop; an interrupt needs no GIL on the
querying side.

A running query registers itself (a dict insert and delete, under a lock, per
query); the watchdog looks at the few queries running at that moment every
``CHECK_SECONDS``, which is cheaper than a timer per query, cannot wake a thread
per request, and is exact enough for deadlines of seconds. Interrupting happens
under the same lock as unregistering, so an interrupt can never hit the next query
on the same connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from types import TracebackType

CHECK_SECONDS = 0.1


class _Running:
    """One query's registration; a context manager around the query."""

    __slots__ = ("at", "conn", "watchdog")

    def __init__(self, watchdog: Watchdog, conn: sqlite3.Connection, at: float) -> None:
        self.watchdog = watchdog
        self.conn = conn
        self.at = at

    def __enter__(self) -> None:
        with self.watchdog.lock:
            self.watchdog.running[id(self)] = self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self.watchdog.lock:
            self.watchdog.running.pop(id(self), None)


class Watchdog:
    """Interrupts queries that outlive their deadline; ``deadline()`` wraps one query."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, _Running] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-watchdog", daemon=True)
        self._thread.start()

    def deadline(self, conn: sqlite3.Connection, seconds: float) -> _Running:
        """Run the block with ``conn`` interrupted if it is still busy after ``seconds``."""
        return _Running(self, conn, time.monotonic() + seconds)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            now = time.monotonic()
            with self.lock:
                for key, query in list(self.running.items()):
                    if query.at <= now:
                        del self.running[key]
                        query.conn.interrupt()
