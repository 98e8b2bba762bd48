"""Appending to the event log inside a write, and reading it back in id order.

An application appends in the same ``db.write`` function as the change it
describes, so an event exists if and only if its change committed. Whatever else
must happen in that transaction for every event (queueing webhook deliveries)
registers with ``on_append``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from onebin.events.tables import APPEND_LOCK
from onebin.store.database import Connection, Engine
from onebin.store.notices import Notices

CHANNEL = "onebin_events"
_TYPE = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*")
MAX_TYPE = 64


class Event(msgspec.Struct, frozen=True):
    """One change: its id in the log, its type (``item.updated``), when, and what."""

    id: int
    type: str
    time: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EventSql:
    """One engine's statements of the log."""

    insert: str
    after: str
    oldest: str
    newest: str
    prune: str


_SQLITE = EventSql(
    insert=(
        "INSERT INTO onebin_events (type, data, time, created) VALUES (?, ?, ?, ?) RETURNING id"
    ),
    after="SELECT id, type, data, time FROM onebin_events WHERE id > ? ORDER BY id LIMIT ?",
    oldest="SELECT min(id) AS id FROM onebin_events",
    newest="SELECT max(id) AS id FROM onebin_events",
    prune=(
        "DELETE FROM onebin_events WHERE id IN (SELECT id FROM onebin_events "
        "WHERE created < ? AND id < (SELECT max(id) FROM onebin_events) ORDER BY id LIMIT ?)"
    ),
)
SQL = {
    "sqlite": _SQLITE,
    "postgresql": EventSql(
        # The append lock is taken in the insert itself, before the identity is drawn:
        # one round trip fewer inside the stretch where appends wait for each other.
        # (The one value put into the SQL is onebin's own integer constant.)
        insert=(
            "INSERT INTO onebin_events (type, data, time, created) "  # noqa: S608
            f"SELECT %s, %s, %s, %s FROM (SELECT pg_advisory_xact_lock({APPEND_LOCK})) AS locked "
            "RETURNING id"
        ),
        after=_SQLITE.after.replace("?", "%s"),
        oldest=_SQLITE.oldest,
        newest=_SQLITE.newest,
        prune=_SQLITE.prune.replace("?", "%s"),
    ),
}


def check_type(event_type: str) -> str:
    """Event types are dotted lower-case names, so that a webhook's ``item.*`` matches them."""
    if len(event_type) > MAX_TYPE or not _TYPE.fullmatch(event_type):
        raise ValueError(
            f"event type {event_type!r} must be dotted lower-case words, e.g. item.updated"
        )
    return event_type


def iso_time(moment: float) -> str:
    """UTC, fixed width, milliseconds: sorts as text, as the items app's timestamps do."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_from_row(row: Mapping[str, Any]) -> Event:
    return Event(
        id=row["id"], type=row["type"], time=row["time"], data=msgspec.json.decode(row["data"])
    )


class EventLog:
    """The log of one database: ``append`` inside writes, reads for the hub and streams."""

    def __init__(
        self, db: Engine, notices: Notices, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.sql = SQL[db.engine]
        self.notices = notices
        self.clock = clock
        self._on_append: list[Callable[[Connection, Event], None]] = []

    def on_append(self, hook: Callable[[Connection, Event], None]) -> None:
        """Run ``hook(conn, event)`` in the transaction of every append, after the insert."""
        self._on_append.append(hook)

    def append(self, conn: Connection, event_type: str, data: Mapping[str, Any]) -> Event:
        """Adds an event in ``conn``'s transaction (call it inside ``db.write``).

        ``data`` is a JSON object; keep it small (ids and versions): every
        subscriber receives it, and the change itself can be read from the API.
        """
        check_type(event_type)
        encoded = msgspec.json.encode(dict(data)).decode()
        now = self.clock()
        stamp = iso_time(now)
        # Before the insert: a notice is only delivered at commit anyway, and on
        # PostgreSQL the insert takes the append lock, held until the commit.
        self.notices.notify(conn, CHANNEL)
        event_id = conn.execute(self.sql.insert, (event_type, encoded, stamp, now)).fetchone()["id"]
        event = Event(id=event_id, type=event_type, time=stamp, data=dict(data))
        for hook in self._on_append:
            hook(conn, event)
        return event

    def after(self, conn: Connection, event_id: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with ids above ``event_id``, in id order."""
        return [event_from_row(row) for row in conn.execute(self.sql.after, (event_id, limit))]

    async def read_after(self, event_id: int, limit: int) -> list[Event]:
        """``after`` as an indexed lookup: a page of the log by its primary key."""
        return await self.db.lookup(lambda conn: self.after(conn, event_id, limit))

    def bounds(self, conn: Connection) -> tuple[int | None, int | None]:
        """The oldest and newest ids still kept (None, None when the log is empty)."""
        oldest = conn.execute(self.sql.oldest).fetchone()["id"]
        newest = conn.execute(self.sql.newest).fetchone()["id"]
        return oldest, newest

    def prune(self, conn: Connection, keep_seconds: float, limit: int = 5000) -> int:
        """Deletes up to ``limit`` events older than ``keep_seconds``, oldest first,
        always keeping the newest one; how many it deleted.

        The newest is kept so that the log's first id tells a resuming client
        whether events it has not seen were deleted (``resume_point``). The limit
        keeps each write short: on SQLite every other write waits behind it.
        """
        cutoff = self.clock() - keep_seconds
        return conn.execute(self.sql.prune, (cutoff, limit)).rowcount
