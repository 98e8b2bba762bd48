"""Heartbeats of worker processes, in memory shared with the supervisor.

A worker that crashes is noticed by ``wait()``; a worker that is frozen (stopped by
SIGSTOP, stuck in a system call, a loop blocked by a bug) is not, and one frozen
while holding the write lock once stalled every write of every worker for as long
as the freeze lasted. So each worker's event loop stamps its slot every
``INTERVAL`` seconds, and the supervisor replaces a worker whose stamp grows old.
``time.monotonic`` is the system-wide CLOCK_MONOTONIC on Linux, so the stamps of
different processes compare.
"""

from __future__ import annotations

import mmap

INTERVAL = 1.0
_SLOT = 8  # one float64 per worker


class Heartbeats:
    """Slots 1..count, in an anonymous shared mapping inherited by forked workers."""

    def __init__(self, count: int) -> None:
        self._map = mmap.mmap(-1, _SLOT * (count + 1))  # MAP_SHARED by default
        self._slots = memoryview(self._map).cast("d")

    def beat(self, number: int, now: float) -> None:
        self._slots[number] = now

    def last(self, number: int) -> float:
        return self._slots[number]
