"""Wake-ups between the processes that share a database: "something new on channel X".

A notice is only a hint. Whoever waits also wakes after its timeout and looks for
itself, so a lost notice (a dropped connection, a process that started late) delays
work by one poll, never loses it. One implementation per engine:

- PostgreSQL (``PostgresNotices``): ``notify`` is ``pg_notify`` inside the writing
  transaction, so it is delivered at COMMIT and never for a rollback; each process
  LISTENs on one dedicated connection, reconnecting after a failure. Replicas on
  other hosts hear it too.
- SQLite (``SQLiteNotices``): a notice from this process wakes its waiters right
  after the commit (the engine's ``on_commit``); other processes' changes are
  found by polling every ``SQLITE_POLL`` seconds, a cheap index lookup on the
  event loop, since every process is on one host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any, Protocol

from onebin.logs import RepeatLimiter
from onebin.store.database import Connection, Engine

logger = logging.getLogger("onebin")
failures = RepeatLimiter(logger, window=60.0)

# How often a SQLite waiter looks: the added latency of a change made by another process.
SQLITE_POLL = 0.05
# Pause before a lost LISTEN connection is opened again.
RELISTEN_DELAY = 1.0
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Notices(Protocol):
    """Hints that a channel has news, shared by every process on the database.

    - ``notify(conn, channel)`` runs inside a ``write`` function; waiters hear it only
      if that transaction commits.
    - ``wait(channel, timeout)`` returns True when a notice came, False after
      ``timeout`` (or sooner, when the engine polls): the caller then looks anyway.
    - ``start()``/``stop()`` run on the event loop of the process that waits.
    """

    def notify(self, conn: Connection, channel: str) -> None: ...

    async def wait(self, channel: str, timeout: float) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def check_channel(channel: str) -> str:
    """A channel is an SQL identifier, so it can be LISTENed to without quoting."""
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(f"channel {channel!r} must be 1-63 of a-z, 0-9 and _")
    return channel


class SQLiteNotices:
    """``Notices`` for SQLite: this process's commits wake its waiters, others' are polled."""

    def __init__(self, poll: float = SQLITE_POLL) -> None:
        self.poll = poll
        self._pending: set[str] = set()
        self._events: dict[str, asyncio.Event] = {}

    def notify(self, conn: Connection, channel: str) -> None:
        self._pending.add(check_channel(channel))

    def committed(self) -> None:
        """The engine committed: wake whoever waits on a channel notified since."""
        pending, self._pending = self._pending, set()
        for channel in pending:
            event = self._events.get(channel)
            if event is not None:
                event.set()

    async def wait(self, channel: str, timeout: float) -> bool:
        event = self._events.setdefault(channel, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), min(timeout, self.poll))
        except TimeoutError:
            return False
        event.clear()
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class PostgresNotices:
    """``Notices`` for PostgreSQL: NOTIFY at commit, one LISTEN connection per process."""

    def __init__(self, url: str, channels: tuple[str, ...], options: dict[str, Any]) -> None:
        self.url = url
        self.channels = tuple(check_channel(channel) for channel in channels)
        self.options = options
        self._events = {channel: asyncio.Event() for channel in self.channels}
        self._task: asyncio.Task[None] | None = None

    def notify(self, conn: Connection, channel: str) -> None:
        conn.execute("SELECT pg_notify(%s, '')", (check_channel(channel),))

    async def wait(self, channel: str, timeout: float) -> bool:
        event = self._events[channel]
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        event.clear()
        return True

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen_forever(self) -> None:
        import psycopg  # only a process on PostgreSQL loads it

        while True:
            try:
                options = {**self.options, "autocommit": True}
                options.pop("row_factory", None)
                async with await psycopg.AsyncConnection.connect(self.url, **options) as conn:
                    for channel in self.channels:
                        await conn.execute(f"LISTEN {channel}")
                    # Whatever was notified while nobody listened: wake everyone once.
                    self._wake_all()
                    async for notice in conn.notifies():
                        event = self._events.get(notice.channel)
                        if event is not None:
                            event.set()
            except psycopg.Error as exc:
                failures.log(
                    logging.WARNING,
                    "listen",
                    f"listening for database notices failed ({type(exc).__name__}); "
                    "polling until it reconnects",
                )
            await asyncio.sleep(RELISTEN_DELAY)

    def _wake_all(self) -> None:
        for event in self._events.values():
            event.set()


def notices_for(db: Engine, channels: tuple[str, ...]) -> Notices:
    """The ``Notices`` of ``db``'s engine for ``channels``."""
    if db.engine == "postgresql":
        from onebin.store.postgres import connection_options

        url: str = db.url  # type: ignore[attr-defined]
        return PostgresNotices(url, channels, connection_options(url))
    notices = SQLiteNotices()
    db.on_commit(notices.committed)  # type: ignore[attr-defined]
    return notices
