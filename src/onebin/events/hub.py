"""One reader of the event log per process, fanning out to every open stream.

A stream never queries the log on its own while live: the hub reads each new batch
once and hands it to every subscriber, so a thousand subscribers cost one query per
change, not a thousand. It reads when the engine's notices say the log grew (NOTIFY
at commit on PostgreSQL) or when its poll comes round (``Notices.wait`` returns),
so changes made by any process or replica reach every stream.

A subscriber that falls more than ``MAX_PENDING`` events behind (a burst bigger
than its client takes at once, or a client that stopped reading) is not buffered
for: it is told it lagged, and its stream catches up from the log itself, so
memory stays bounded and nothing is lost. A client that stops reading altogether
is disconnected by its stream (``stream.SEND_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable

from onebin.errors import StoreFault
from onebin.events.log import CHANNEL, Event, EventLog
from onebin.logs import RepeatLimiter
from onebin.store.notices import Notices

logger = logging.getLogger("onebin")
failures = RepeatLimiter(logger, window=60.0)

# Events a subscriber may have waiting before it is dropped as too slow.
MAX_PENDING = 1000
# Events read per query; a longer backlog takes several.
BATCH = 500
# How long the hub waits for a notice before it looks anyway (PostgreSQL; SQLite polls).
LOOK_EVERY = 1.0
# After a failed read, the pause before the next (the database is down, say).
RETRY_DELAY = 1.0
# Every stream gets a comment this often, which keeps proxies from closing an idle
# stream and lets the server notice a client that has gone.
HEARTBEAT = 15.0
# A stream whose client takes none of a chunk for this long is hung up on: it stopped
# reading, and its socket buffers are full. It resumes from Last-Event-ID if it lives.
SEND_TIMEOUT = 10.0
# How often the hub sends heartbeats and looks for stalled streams. One timer for all
# streams, not one per delivery: per-delivery timers were a quarter of the CPU of a
# delivery to 1,000 subscribers.
TICK = 1.0


class Signal(enum.Enum):
    """What a subscriber's queue holds beside events."""

    LAGGED = "lagged"  # events were left out: read them from the log
    ENDED = "ended"  # no more: the client went, or the server stops
    BEAT = "beat"  # time for a heartbeat


class Subscriber:
    """One stream's queue: events in id order, then perhaps a ``Signal``."""

    def __init__(self, on_stall: Callable[[], None] | None = None) -> None:
        self.queue: asyncio.Queue[Event | Signal] = asyncio.Queue()
        self.ended = False
        # When the stream's current send began (loop time), None between sends.
        self.sending_since: float | None = None
        self.on_stall = on_stall

    def offer(self, events: list[Event]) -> bool:
        """Queues ``events``; False, and ``LAGGED`` in place of all it held, if that
        would overflow: the subscriber then stops receiving until it caught up."""
        if self.ended:
            return False
        if self.queue.qsize() + len(events) > MAX_PENDING:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(Signal.LAGGED)
            return False
        for event in events:
            self.queue.put_nowait(event)
        return True

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(Signal.ENDED)


class EventHub:
    """The process's reader of the log; a ``Service`` of the serving process."""

    def __init__(self, log: EventLog, notices: Notices) -> None:
        self.log = log
        self.notices = notices
        self.subscribers: set[Subscriber] = set()  # those handed new events
        self.watched: set[Subscriber] = set()  # those watched for stalls: lagged ones too
        self.position = 0  # the newest id handed out
        self.lagged = 0  # subscribers that fell behind, since start
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._stopping

    async def start(self) -> None:
        newest = (await self.log.db.lookup(self.log.bounds))[1]
        self.position = newest or 0
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow()), loop.create_task(self._tick())]

    async def stop(self) -> None:
        """Ends every stream (so a shutdown need not wait for them) and stops reading."""
        self._stopping = True
        for subscriber in list(self.watched):
            subscriber.end()
        self.subscribers.clear()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def subscribe(self, on_stall: Callable[[], None] | None = None) -> Subscriber:
        """A new subscriber; ``on_stall`` is called if one of its sends takes longer
        than ``SEND_TIMEOUT``."""
        subscriber = Subscriber(on_stall)
        if self._stopping:
            subscriber.end()
        else:
            self.subscribers.add(subscriber)
            self.watched.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self.watched.discard(subscriber)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + HEARTBEAT
        while True:
            await asyncio.sleep(TICK)
            now = loop.time()
            for subscriber in list(self.watched):
                since = subscriber.sending_since
                if since is not None and now - since > SEND_TIMEOUT and subscriber.on_stall:
                    subscriber.on_stall()
            if now >= next_beat:
                next_beat = now + HEARTBEAT
                for subscriber in self.subscribers:
                    subscriber.queue.put_nowait(Signal.BEAT)

    async def _follow(self) -> None:
        while True:
            try:
                await self._read_new()
            except StoreFault as fault:
                failures.log(logging.WARNING, "events", f"reading new events failed: {fault}")
                await asyncio.sleep(RETRY_DELAY)
                continue
            await self.notices.wait(CHANNEL, LOOK_EVERY)

    async def _read_new(self) -> None:
        while True:
            batch = await self.log.read_after(self.position, BATCH)
            if not batch:
                return
            self.position = batch[-1].id
            for subscriber in list(self.subscribers):
                if not subscriber.offer(batch):
                    self.subscribers.discard(subscriber)
                    self.lagged += 1
            if len(batch) < BATCH:
                return
            await asyncio.sleep(0)  # let streams send before the next batch
