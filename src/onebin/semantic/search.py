"""``SemanticSearch``: what an application uses, at ``context.semantic[name]``.

Each process keeps the collection's vectors in memory (``VectorIndex``) and brings
them up to date from the database before every search: one indexed read of the
rows saved after the last it applied, usually none. So a vector saved by any
process or replica is searched everywhere, and nothing but the database is shared.
The first search of a process loads everything (a million rows in a few seconds),
which is why a serving process starts that load at once (``SemanticService``).

Searching and loading run off the event loop (a read, then a thread): at a million
rows a search is tens of milliseconds of work, which other requests must not wait
behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from onebin.errors import StoreFault
from onebin.jobs.queue import JobQueue
from onebin.semantic.collection import Semantic
from onebin.semantic.indexer import Indexer
from onebin.semantic.model import DIMENSIONS, embed
from onebin.semantic.nearest import VectorIndex
from onebin.store.database import Connection, Engine

logger = logging.getLogger("onebin.semantic")

# Vectors are unit vectors scaled to 127 per component, so a dot product over
# 127 * 127 is their cosine similarity.
SCALE = 127 * 127
# Rows read per round when catching up: a read stays short while a million load.
PAGE = 10_000


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """A row found by meaning: its id, and the cosine similarity to the query (-1 to 1)."""

    id: int
    score: float


class SemanticSearch:
    """One collection's search (``nearest``, ``similar``) and its marks (``changed``)."""

    def __init__(self, semantic: Semantic, db: Engine, jobs: JobQueue) -> None:
        self.name = semantic.name
        self.db = db
        self.indexer = Indexer(semantic, db, jobs)
        self._text = semantic.text
        self._sql = self.indexer.sql
        self._index = VectorIndex(DIMENSIONS)
        self._after = (0, 0)  # the last (seq, row_id) applied
        self._refreshing = asyncio.Lock()

    def changed(self, conn: Connection, row_id: int) -> None:
        """Call it in the ``db.write`` function that creates, changes or deletes the row:
        its vector is computed (or removed) by a background job within seconds."""
        self.indexer.mark(conn, row_id)

    async def nearest(self, text: str, limit: int = 10) -> list[SemanticMatch]:
        """Up to ``limit`` rows nearest in meaning to ``text``, best first; none for a
        text without a word the model knows."""
        return await self._nearest(embed(text), limit, exclude=None)

    async def similar(self, row_id: int, limit: int = 10) -> list[SemanticMatch]:
        """Up to ``limit`` rows nearest in meaning to row ``row_id``, itself left out.

        A row not embedded yet (just written) is embedded from its text now; a row
        that does not exist has no similar rows.
        """
        await self.refresh()
        vector = self._index.vector(row_id)
        if vector is None:
            texts = await self.db.read(lambda conn: self._text(conn, [row_id]))
            if row_id not in texts:
                return []
            vector = embed(texts[row_id])
        return await self._nearest(vector, limit, exclude=row_id)

    async def refresh(self) -> int:
        """Applies the vectors saved since the last refresh; how many rows changed."""
        async with self._refreshing:
            applied = 0
            while (count := await self.db.read(self._catch_up)) == PAGE:
                applied += count
            return applied + count

    def _catch_up(self, conn: Connection) -> int:
        """One page of changes applied to the in-memory copy (on the reader thread)."""
        seq, row_id = self._after
        rows = conn.execute(self._sql.changes, (self.name, seq, row_id, PAGE)).fetchall()
        self._index.apply((row["row_id"], row["vector"]) for row in rows)
        if rows:
            self._after = (rows[-1]["seq"], rows[-1]["row_id"])
        return len(rows)

    async def _nearest(
        self, vector: bytes, limit: int, *, exclude: int | None
    ) -> list[SemanticMatch]:
        if not any(vector):
            return []
        await self.refresh()
        found = await asyncio.to_thread(self._index.nearest, vector, limit, exclude=exclude)
        return [SemanticMatch(row_id, dot / SCALE) for row_id, dot in found]


def searches(
    collections: tuple[Semantic, ...], db: Engine, jobs: JobQueue
) -> dict[str, SemanticSearch]:
    """``context.semantic``: each collection's search, by name."""
    return {semantic.name: SemanticSearch(semantic, db, jobs) for semantic in collections}


class SemanticService:
    """A serving process's ``Service`` for its semantic collections: at start it loads
    every collection once, so that the first search does not pay for a million rows
    (a failure is left to the first search, which loads again); at stop it ends the
    embedding job's work at its next step, so a shutdown does not wait for it."""

    def __init__(self, collections: Mapping[str, SemanticSearch]) -> None:
        self._collections = collections
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._load())

    async def stop(self) -> None:
        for search in self._collections.values():
            search.indexer.stop()
        if self._task is not None:
            self._task.cancel()

    async def _load(self) -> None:
        for search in self._collections.values():
            try:
                await search.refresh()
            except StoreFault as fault:
                logger.warning("semantic search %r not loaded at start: %s", search.name, fault)
