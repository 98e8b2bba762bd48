"""Keeping a collection's stored vectors current: marks in writes, embedding in a job.

An application's write calls ``mark`` for each row it changes: one upsert, and a
job queued with a key per collection and minute, so writes queue one job a minute
rather than one per row. That job (``onebin.embed``) follows the collection until
the minute is over: it embeds every marked row in batches, reading their text in a
read, computing the vectors on a thread (a model's arithmetic must not hold up the
event loop) and saving them in a short write, then looks for new marks every
``POLL`` seconds. So the writes that change rows pay for two small statements, not
for the model, a change is searchable within about a second, and the queue holds a
job per minute of writing, not one per write. A periodic run of the same kind every
``SWEEP`` seconds embeds whatever a lost process left marked.

A row marked again while its batch was being embedded keeps its mark (see
``onebin.semantic.tables``) and is embedded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence

from onebin.jobs.queue import JobQueue
from onebin.semantic.collection import Semantic
from onebin.semantic.model import MODEL_ID, embed
from onebin.semantic.tables import SQL
from onebin.store.database import Connection, Engine

EMBED_KIND = "onebin.embed"
# Rows embedded per read-embed-write round: the write stays a few milliseconds.
BATCH = 256
# Writes within one slot share one job, which looks for marks every POLL seconds
# until GRACE after its slot ends (covering a write that commits late).
SLOT = 60.0
POLL = 0.5
GRACE = 2.0
# How often every collection is drained whatever was written (a safety net).
SWEEP = 600.0

# (row_id, the mark it had when read, its new vector or None for a gone row)
Embedded = tuple[int, int, bytes | None]


class Indexer:
    """The write side of one collection: ``mark`` in writes, ``drain`` in the job."""

    def __init__(
        self,
        semantic: Semantic,
        db: Engine,
        jobs: JobQueue,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.semantic = semantic
        self.name = semantic.name
        self.db = db
        self.jobs = jobs
        self.sql = SQL[db.engine]
        self.clock = clock
        self._draining = asyncio.Lock()
        self._stopping = asyncio.Event()

    def mark(self, conn: Connection, row_id: int) -> None:
        """Marks ``row_id`` changed (created, updated or deleted) in ``conn``'s write,
        and queues the job that embeds it, unless this slot's job is queued already."""
        conn.execute(self.sql.mark, (self.name, row_id))
        self._queue(conn)

    def _queue(self, conn: Connection, *, keyed: bool = True) -> None:
        """Queues the job of this slot; ``keyed=False`` queues one whatever the slot
        has (at start, or to hand the rest of a slot over when this process stops)."""
        slot = math.floor(self.clock() / SLOT) * SLOT
        key = f"{EMBED_KIND}:{self.name}:{slot:.0f}" if keyed else None
        payload = {"collection": self.name, "until": slot + SLOT + GRACE}
        self.jobs.enqueue(conn, EMBED_KIND, payload, key=key)

    def stop(self) -> None:
        """The process is stopping: ``follow`` and ``drain`` end at their next step,
        so that a shutdown never waits for the rest of a slot."""
        self._stopping.set()

    async def follow(self, until: float) -> int:
        """Drains, then keeps draining new marks every ``POLL`` seconds until ``until``
        (epoch seconds); how many rows it embedded. Stopped early (``stop``), it hands
        the rest of the slot to another process in a job of its own."""
        done = await self.drain()
        while self.clock() < until and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL)
            done += await self.drain()
        if self._stopping.is_set() and self.clock() < until:
            await self.db.write(lambda conn: self._queue(conn, keyed=False))
        return done

    async def drain(self) -> int:
        """Embeds every marked row, batch by batch, until none is left; how many.

        One drain at a time in a process: a second job waits, then finds what the
        first left (rows marked after its last look).
        """
        async with self._draining:
            done = 0
            while not self._stopping.is_set() and (batch := await self.db.read(self._marked)):
                embedded = await asyncio.to_thread(embed_batch, batch)
                await self.db.write(lambda conn, rows=embedded: self.save(conn, rows))
                done += len(embedded)
            return done

    def drain_sync(self, progress: Callable[[int], None] | None = None) -> int:
        """``drain`` on the calling thread, for the command line."""
        done = 0
        while batch := self.db.read_sync(self._marked):
            embedded = embed_batch(batch)
            self.db.write_sync(lambda conn, rows=embedded: self.save(conn, rows))
            done += len(embedded)
            if progress is not None:
                progress(done)
        return done

    def _marked(self, conn: Connection) -> list[tuple[int, int, str | None]]:
        """Up to ``BATCH`` marked rows with their marks and texts (None: the row is gone)."""
        rows = conn.execute(self.sql.dirty, (self.name, BATCH)).fetchall()
        if not rows:
            return []
        texts = self.semantic.text(conn, [row["row_id"] for row in rows])
        return [(row["row_id"], row["dirty"], texts.get(row["row_id"])) for row in rows]

    def save(self, conn: Connection, rows: Sequence[Embedded]) -> None:
        """Stores a batch under the collection's next ``seq``; a row marked again since
        it was read keeps its mark and its old vector."""
        seq = self._next_seq(conn)
        conn.cursor().executemany(
            self.sql.save,
            [(vector, seq, self.name, row_id, mark) for row_id, mark, vector in rows],
        )

    def _next_seq(self, conn: Connection) -> int:
        if self.sql.lock is not None:
            conn.execute(self.sql.lock)
        return int(conn.execute(self.sql.next_seq, (self.name,)).fetchone()["seq"])

    def prepare_sync(self) -> bool:
        """``prepare`` in a write of its own, on the calling thread (start-up)."""
        return self.db.write_sync(self._prepare)

    def _prepare(self, conn: Connection) -> bool:
        """At start, in a write: if the stored vectors are another model's, drops them
        and marks every row; queues the job if any row is marked. Whether it did."""
        row = conn.execute(self.sql.model, (self.name,)).fetchone()
        if row is None or row["model"] != MODEL_ID:
            if row is not None:
                conn.execute(self.sql.drop_all, (self._next_seq(conn), self.name))
            conn.execute(self.sql.set_model, (self.name, MODEL_ID))
        if conn.execute(self.sql.dirty, (self.name, 1)).fetchone() is None:
            return False
        # Not this slot's key: a process that stopped in this slot may hold it.
        self._queue(conn, keyed=False)
        return True

    def counts(self, conn: Connection) -> dict[str, int]:
        """Rows with a vector, and rows waiting for one: what an operator checks."""
        row = conn.execute(self.sql.counts, (self.name,)).fetchone()
        return {"embedded": int(row["embedded"]), "waiting": int(row["waiting"])}

    def mark_all(self, conn: Connection) -> int:
        """Marks every row the collection holds (``onebin reindex``); searches use the
        current vectors until the new ones are saved. How many rows."""
        count = int(conn.execute(self.sql.mark_all, (self.name,)).rowcount)
        self._queue(conn)
        return count


def embed_batch(batch: Sequence[tuple[int, int, str | None]]) -> list[Embedded]:
    return [(row_id, mark, None if text is None else embed(text)) for row_id, mark, text in batch]
