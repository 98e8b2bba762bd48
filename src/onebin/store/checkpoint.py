"""WAL checkpoints off the commit path.

By default SQLite checkpoints inside the COMMIT that takes the WAL past 1,000 pages:
that commit then copies the WAL into the database file and fsyncs it, and every
write waiting on it waits too (commits of 1 ms took 60 ms then). Here the writer's
connection never checkpoints; a background thread runs a PASSIVE checkpoint every
``INTERVAL`` seconds on its own connection, which copies what no reader still needs
while writers keep appending to the WAL.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable

logger = logging.getLogger("onebin.store")

INTERVAL = 1.0


class Checkpointer:
    """A thread that checkpoints the WAL of the database ``connect`` opens."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(INTERVAL):
                # A failure (disk full, I/O error) is the writers' to report; the next
                # pass tries again.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
