"""Nearest vectors by exhaustive search: one process's in-memory copy of a collection.

Exhaustive, not an approximate graph: the vectors are small (int8, a few hundred
bytes), ``simsimd`` computes a million dot products in about 13 ms on this kind of
machine, and an exact answer needs no tuning and cannot silently miss an item.
What Python alone would make slow is picking the best ``k`` of a million scores
(about 65 ms for ``heapq.nlargest``); ``top_k`` cuts that to one ``max`` per block
of scores, a C loop, and a threshold those maxima give, below which no answer lies.

The vectors live in one ``bytearray`` (row ``i`` at ``i * dimensions``) beside an
array of ids; removing a row moves the last row into its place, so the matrix
never has holes. A lock makes updates (applied from the database on a reader
thread) and searches (on an executor thread) take turns.
"""

from __future__ import annotations

import heapq
import math
import threading
from array import array
from collections.abc import Iterable
from itertools import compress

import simsimd

# top_k cuts the scores into about BLOCKS_PER_ANSWER * k blocks, of at least
# MIN_BLOCK scores: many more blocks than answers, so that the k-th largest block
# maximum is a high threshold and few blocks reach it.
BLOCKS_PER_ANSWER = 8
MIN_BLOCK = 16


def block_size(count: int, k: int) -> int:
    return max(MIN_BLOCK, -(-count // (BLOCKS_PER_ANSWER * k)))


def top_k(scores: memoryview, k: int) -> list[tuple[float, int]]:
    """The ``k`` largest of ``scores`` as ``(score, position)``, best first (ties: the
    lower position first).

    The k-th largest block maximum is a threshold no answer is below: those k maxima
    are k scores at least that high, so the k-th best score is too. Only blocks whose
    maximum reaches it are looked into, and in them only the positions at or above it
    become Python objects (``map`` and ``compress`` run in C).
    """
    count = len(scores)
    if k <= 0 or count == 0:
        return []
    size = block_size(count, k)
    maxima = [max(scores[start : start + size]) for start in range(0, count, size)]
    # With fewer blocks than answers there is no threshold: every score is a candidate.
    threshold = heapq.nlargest(k, maxima)[-1] if len(maxima) >= k else -math.inf
    reaches = threshold.__le__
    candidates = []
    for block, highest in enumerate(maxima):
        if highest >= threshold:
            start = block * size
            part = scores[start : start + size]
            positions = compress(range(start, start + len(part)), map(reaches, part))
            candidates += [(scores[position], position) for position in positions]
    return heapq.nlargest(k, candidates, key=lambda pair: (pair[0], -pair[1]))


class VectorIndex:
    """Row ids and their vectors, searchable by dot product (cosine for unit vectors)."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._ids = array("q")
        self._matrix = bytearray()
        self._positions: dict[int, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._positions

    def apply(self, changes: Iterable[tuple[int, bytes | None]]) -> None:
        """Sets each row's vector, or removes the row where the vector is None."""
        with self._lock:
            for row_id, vector in changes:
                if vector is None:
                    self._remove(row_id)
                else:
                    self._put(row_id, vector)

    def vector(self, row_id: int) -> bytes | None:
        with self._lock:
            position = self._positions.get(row_id)
            if position is None:
                return None
            start = position * self.dimensions
            return bytes(self._matrix[start : start + self.dimensions])

    def nearest(self, query: bytes, k: int, *, exclude: int | None = None) -> list[tuple[int, int]]:
        """The ``k`` rows whose vectors have the largest dot product with ``query``,
        as ``(row_id, dot)``, best first; ``exclude`` is left out (an item itself)."""
        if len(query) != self.dimensions:
            raise ValueError(f"a query vector has {self.dimensions} dimensions, not {len(query)}")
        with self._lock:
            count = len(self._ids)
            if count == 0 or k <= 0:
                return []
            shape = (count, self.dimensions)
            # Released before the lock is: a bytearray with a view on it cannot grow.
            with memoryview(self._matrix) as raw, raw.cast("b", shape) as matrix:
                target = memoryview(query).cast("b", (1, self.dimensions))
                distances = simsimd.cdist(target, matrix, "dot")
            scores = memoryview(distances).cast("B").cast("d")
            wanted = k + 1 if exclude is not None else k
            best = [(self._ids[at], round(score)) for score, at in top_k(scores, wanted)]
        return [(row_id, dot) for row_id, dot in best if row_id != exclude][:k]

    def _put(self, row_id: int, vector: bytes) -> None:
        if len(vector) != self.dimensions:
            return  # a vector of another model (a rolling upgrade): never comparable
        position = self._positions.get(row_id)
        if position is None:
            self._positions[row_id] = len(self._ids)
            self._ids.append(row_id)
            self._matrix += vector
        else:
            start = position * self.dimensions
            self._matrix[start : start + self.dimensions] = vector

    def _remove(self, row_id: int) -> None:
        position = self._positions.pop(row_id, None)
        if position is None:
            return
        last = len(self._ids) - 1
        if position != last:
            moved = self._ids[last]
            self._ids[position] = moved
            self._positions[moved] = position
            start, end = position * self.dimensions, last * self.dimensions
            self._matrix[start : start + self.dimensions] = self._matrix[end:]
        self._ids.pop()
        del self._matrix[last * self.dimensions :]
