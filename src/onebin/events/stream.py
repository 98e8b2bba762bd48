"""``GET`` an event stream: Server-Sent Events from the log, resumable without loss.

A client that reconnects sends the last id it saw (``Last-Event-ID``, which
browsers' ``EventSource`` does by itself); the stream first replays the log after
it, then goes live from the hub, skipping what the replay already sent. A client
whose id is older than the log keeps (pruned) or unknown to it (a restored
database) first gets one ``events.reset`` message: it must reload what it shows.

The hub sends a heartbeat comment every ``hub.HEARTBEAT`` seconds and hangs up on
a client that takes nothing for ``hub.SEND_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from onebin.errors import StoreFault
from onebin.events.hub import BATCH, EventHub, Signal, Subscriber
from onebin.events.log import Event, EventLog, iso_time
from onebin.http import ApiError
from onebin.types import Message, Receive, Scope, Send

logger = logging.getLogger("onebin")

# How long a browser waits before reconnecting, in milliseconds (the SSE ``retry``).
RECONNECT_MS = 2000
RESET = "events.reset"
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    # nginx and some proxies buffer responses unless told not to.
    (b"x-accel-buffering", b"no"),
]
_MAX_ID = 2**63 - 1
_BEAT = b": heartbeat\n\n"


def parse_last_event_id(value: str | None) -> int | None:
    """The id a client resumes after; ``ApiError`` 400 for anything but a plain count."""
    value = None if value is None else value.strip(" \t")  # not part of the value (RFC 9110)
    if not value:
        return None
    # Length first: int() of thousands of digits raises its own error (a 500 once).
    if len(value) > 19 or not value.isascii() or not value.isdigit() or int(value) > _MAX_ID:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an event id")
    return int(value)


def resume_point(last_id: int | None, oldest: int | None, newest: int | None) -> tuple[int, bool]:
    """Where a stream starts (the id it sends events after) and whether it must reset.

    Without ``last_id`` a stream starts now. With one, it replays after it, unless
    events after it were deleted (it is older than the kept log) or it is not an id
    of this log (newer than its newest): then the client is told to reload, and the
    stream starts now.
    """
    now = newest or 0
    if last_id is None:
        return now, False
    if last_id > now or (oldest is not None and last_id < oldest - 1):
        return now, True
    return last_id, False


def message(event: Event) -> bytes:
    """One SSE message; JSON never contains a raw newline, so ``data`` is one line."""
    return b"id: %d\ndata: %s\n\n" % (event.id, msgspec.json.encode(event))


class _Stalled(Exception):
    """The client took no data for ``SEND_TIMEOUT`` seconds."""


class EventStream:
    """The answer to one subscription: an ASGI response that streams until the client
    goes, stops reading, or the server stops."""

    def __init__(self, log: EventLog, hub: EventHub, last_id: int | None) -> None:
        self.log = log
        self.hub = hub
        self.last_id = last_id
        self._send: Send | None = None
        self._subscriber: Subscriber | None = None
        self._gone = False
        self._stalled = False
        self._abort: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        self._abort = scope.get("extensions", {}).get("onebin.abort")
        subscriber = self._subscribe()  # before the log is read, so nothing falls between
        try:
            oldest, newest = await self.log.db.lookup(self.log.bounds)
            start, reset = resume_point(self.last_id, oldest, newest)
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            first = b"retry: %d\n\n" % RECONNECT_MS
            if reset:
                stamp = iso_time(self.log.clock())
                first += message(Event(id=start, type=RESET, time=stamp, data={}))
            watcher = asyncio.get_running_loop().create_task(_until_disconnect(receive))
            watcher.add_done_callback(lambda _: self._hang_up())
            try:
                await self._body(first)
                await self._follow(subscriber, start)
            except StoreFault as fault:
                # The client reconnects and resumes from what it got; nothing is lost.
                logger.warning("an event stream ended: %s", fault)
            except _Stalled:
                return  # hung up on already: nothing more can be sent
            finally:
                watcher.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._unsubscribe()

    async def _follow(self, subscriber: Subscriber, sent: int) -> None:
        """Replay after ``sent``, then live; after a lag, the same again."""
        while True:
            sent = await self._replay(sent)
            sent, lagged = await self._live(subscriber, sent)
            if not lagged:
                return
            self._unsubscribe()
            subscriber = self._subscribe()

    def _subscribe(self) -> Subscriber:
        self._subscriber = self.hub.subscribe(on_stall=self._stall)
        if self._gone:
            self._subscriber.end()
        return self._subscriber

    def _unsubscribe(self) -> None:
        if self._subscriber is not None:
            self.hub.unsubscribe(self._subscriber)

    def _stall(self) -> None:
        """The client took nothing for SEND_TIMEOUT: reset the connection, which also
        ends the send that waits (a close would wait for the unsent bytes forever)."""
        self._stalled = True
        if self._abort is not None:
            self._abort()

    def _hang_up(self) -> None:
        self._gone = True
        if self._subscriber is not None:
            self._subscriber.end()

    async def _replay(self, after: int) -> int:
        while True:
            batch = await self.log.read_after(after, BATCH)
            if batch:
                await self._events(batch)
                after = batch[-1].id
            if len(batch) < BATCH:
                return after

    async def _live(self, subscriber: Subscriber, sent: int) -> tuple[int, bool]:
        """Sends what the hub hands over; (last id sent, whether it lagged) at the end."""
        queue = subscriber.queue
        while True:
            first = await queue.get()
            batch = [first]
            while not queue.empty():
                batch.append(queue.get_nowait())
            events = [item for item in batch if isinstance(item, Event) and item.id > sent]
            if events:
                await self._events(events)
                sent = events[-1].id
            elif Signal.BEAT in batch:
                await self._body(_BEAT)
            if Signal.ENDED in batch:
                return sent, False
            if Signal.LAGGED in batch:
                return sent, True

    async def _events(self, events: list[Event]) -> None:
        await self._body(b"".join(message(event) for event in events))

    async def _body(self, body: bytes) -> None:
        assert self._send is not None
        assert self._subscriber is not None
        subscriber = self._subscriber
        subscriber.sending_since = asyncio.get_running_loop().time()
        try:
            await self._send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            subscriber.sending_since = None
        if self._stalled:
            raise _Stalled


async def _until_disconnect(receive: Receive) -> None:
    """Returns when the client goes away (a body it sent is read and dropped)."""
    while True:
        received: Message = await receive()
        if received["type"] == "http.disconnect":
            return
