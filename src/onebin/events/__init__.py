"""Events: a log of changes in the application's database, streamed to clients live.

An application appends an event in the same write as the change it describes
(``Events.append``), and mounts ``Events.stream`` where clients subscribe. The log,
the hub that follows it and the stream are one object per serving process, which
the server starts and stops with the process (it is a ``Service``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from onebin.events.hub import EventHub
from onebin.events.log import CHANNEL, Event, EventLog
from onebin.events.stream import EventStream, parse_last_event_id
from onebin.http import ApiError
from onebin.store.database import Connection, Engine
from onebin.store.notices import Notices

__all__ = ["CHANNEL", "Event", "EventLog", "Events"]


class Events:
    """The event log of the run's database, its hub and its stream endpoint.

    - ``append(conn, type, data)`` inside a ``db.write`` function: the event is
      committed with the change, or not at all. ``type`` is dotted lower-case
      (``item.updated``); ``data`` a small JSON object (ids, versions).
    - ``stream(request)``: the answer to a subscription, for a ``GET`` handler to
      return: Server-Sent Events from now on, or after the request's
      ``Last-Event-ID``. Raises ``ApiError`` (400 for a malformed id, 503 while the
      server stops).
    """

    def __init__(self, db: Engine, notices: Notices) -> None:
        self.log = EventLog(db, notices)
        self.hub = EventHub(self.log, notices)

    def append(self, conn: Connection, event_type: str, data: Mapping[str, Any]) -> Event:
        return self.log.append(conn, event_type, data)

    def stream(self, request: Request) -> EventStream:
        last_id = parse_last_event_id(request.headers.get("last-event-id"))
        if not self.hub.running:
            raise ApiError(503, "shutting_down", "the server is stopping; reconnect shortly")
        return EventStream(self.log, self.hub, last_id)

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
