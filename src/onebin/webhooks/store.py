"""Webhooks as stored, and the fan-out that turns each event into delivery jobs.

``fan_out`` registers a hook on the event log: in the very transaction that appends
an event, it reads the webhooks (a small table, no secrets) and enqueues one
``onebin.webhook`` job per webhook whose patterns match the event's type. So a
delivery exists if and only if its event committed, and a webhook added by the
command line gets every event committed after its own insert, in every process at
once: there is no cache to go stale. The read costs one statement per append (a
few microseconds on SQLite, one round trip on PostgreSQL, in a transaction that
already makes several).

The idempotency key ``webhook:{id}:{event}`` makes a second enqueue of the same
delivery a no-op, whoever tries it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from onebin.errors import NotFound
from onebin.events import Event, EventLog
from onebin.events.log import event_from_row
from onebin.jobs.queue import JobQueue
from onebin.store.database import Connection, Engine
from onebin.webhooks.rules import check_pattern, check_url, matches
from onebin.webhooks.signing import new_secret
from onebin.webhooks.tables import SQL

DELIVER = "onebin.webhook"
# Tries of one delivery before its job is left dead (retry delays double from
# --job-retry-delay: 2 s, 4 s, ... about four minutes in all by default).
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Webhook:
    """A webhook as the command line shows it: never its secret."""

    id: int
    url: str
    events: tuple[str, ...]
    created_at: str

    @classmethod
    def of(cls, row: Any) -> Webhook:
        return cls(row["id"], row["url"], patterns_of(row["events"]), row["created_at"])

    def as_json(self) -> dict[str, Any]:
        """As ``webhook list --json`` and the console show it."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "created_at": self.created_at,
        }


@functools.lru_cache(maxsize=256)
def patterns_of(stored: str) -> tuple[str, ...]:
    """The patterns of an ``events`` column; decoded once per distinct value."""
    return tuple(msgspec.json.decode(stored, type=list[str]))


def delivery_key(webhook_id: int, event_id: int) -> str:
    return f"webhook:{webhook_id}:{event_id}"


class WebhookStore:
    """The webhooks of one database: add, list and remove (the command line), and
    the lookups a delivery makes inside a read."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.sql = SQL[db.engine]

    def add(self, url: str, patterns: list[str]) -> tuple[Webhook, str]:
        """A new webhook and its secret (which nothing shows again); ``ValueError``
        for a URL or a pattern that ``rules`` refuses."""
        check_url(url)
        if not patterns:
            raise ValueError("a webhook needs at least one event pattern")
        for pattern in patterns:
            check_pattern(pattern)
        secret = new_secret()
        events = msgspec.json.encode(patterns).decode()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        args = (url, events, secret, created)
        row = self.db.write_sync(lambda conn: conn.execute(self.sql.insert, args).fetchone())
        return Webhook.of(row), secret

    def list(self) -> list[Webhook]:
        return self.db.read_sync(self._listing)

    async def list_async(self) -> list[Webhook]:
        """``list`` on the loop's database paths (the console)."""
        return await self.db.read(self._listing)

    def _listing(self, conn: Connection) -> list[Webhook]:
        return [Webhook.of(row) for row in conn.execute(self.sql.listing).fetchall()]

    def remove(self, webhook_id: int) -> Webhook:
        """The removed webhook; ``NotFound`` for an unknown id. Deliveries already
        queued for it end without sending anything."""
        row = self.db.write_sync(
            lambda conn: conn.execute(self.sql.delete, (webhook_id,)).fetchone()
        )
        if row is None:
            raise NotFound(f"no webhook {webhook_id} (see 'webhook list')")
        return Webhook.of(row)

    # Inside a read of the delivery.

    def target(self, conn: Connection, webhook_id: int) -> tuple[Webhook, str] | None:
        """A webhook and its secret, or None if it was removed."""
        row = conn.execute(self.sql.get, (webhook_id,)).fetchone()
        return None if row is None else (Webhook.of(row), row["secret"])

    def event(self, conn: Connection, event_id: int) -> Event | None:
        """An event of the log by id, or None if it was pruned."""
        row = conn.execute(self.sql.event, (event_id,)).fetchone()
        return None if row is None else event_from_row(row)


def fan_out(log: EventLog, jobs: JobQueue) -> None:
    """Make every event appended to ``log`` queue its deliveries in ``jobs``, in the
    appending transaction (called once per process, where its ``Context`` is made)."""
    targets = SQL[log.db.engine].targets

    def queue_deliveries(conn: Connection, event: Event) -> None:
        for row in conn.execute(targets).fetchall():
            if matches(patterns_of(row["events"]), event.type):
                webhook_id = int(row["id"])
                jobs.enqueue(
                    conn,
                    DELIVER,
                    {"webhook": webhook_id, "event": event.id},
                    key=delivery_key(webhook_id, event.id),
                    max_attempts=MAX_ATTEMPTS,
                )

    log.on_append(queue_deliveries)
