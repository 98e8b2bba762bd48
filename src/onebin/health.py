"""Liveness and readiness: "the process runs" and "it can serve reads and writes now".

``/healthz`` only says the event loop answers; a supervisor or orchestrator that
restarts on its failure must not restart a process for a full disk. ``/readyz`` is
what a load balancer should route by: a read, a write probe that takes the write
path (SQLite: the queue, the cross-process lock, ``BEGIN IMMEDIATE``; PostgreSQL: a
pooled connection and ``BEGIN READ WRITE``, which a standby refuses) and commits nothing,
and free disk space above a floor. The result is kept for a second, so a flood of
probes costs one check.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onebin.errors import StoreError
from onebin.jobs.queue import JobQueue
from onebin.store.database import Engine

CACHE_SECONDS = 1.0
WRITE_PROBE_TIMEOUT = 1.0
MIB = 1024 * 1024


def disk_check(free_bytes: int, floor_bytes: int) -> str | None:
    """None when there is room; else what to tell the operator. Pure."""
    if free_bytes >= floor_bytes:
        return None
    return (
        f"{free_bytes / MIB:.0f} MiB free in the data directory, "
        f"below the floor of {floor_bytes / MIB:.0f} MiB (--min-free-disk)"
    )


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


@dataclass
class Readiness:
    """Checks the database and the disk; ``report()`` is what ``/readyz`` answers.

    With ``jobs``, the report also tells the job queue's backlog: how many jobs are
    due and unclaimed (a lost process's included), how long the oldest has waited,
    and how many are held by live processes (running, or claimed and waiting for a
    slot). It is a detail for the operator, not a check: a backlog does not make a
    process unready.
    """

    db: Engine
    data_dir: Path
    min_free_disk: int
    jobs: JobQueue | None = None
    clock: Callable[[], float] = time.monotonic
    _last: tuple[float, dict[str, Any]] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def report(self) -> dict[str, Any]:
        async with self._lock:
            if self._last is not None and self.clock() - self._last[0] < CACHE_SECONDS:
                return self._last[1]
            checks = {
                "database_read": await self._read(),
                "database_write": await self._write(),
                "disk": self._disk(),
            }
            ready = all(value == "ok" for value in checks.values())
            report: dict[str, Any] = {
                "status": "ready" if ready else "not_ready",
                "checks": checks,
            }
            if self.jobs is not None and ready:
                report["jobs"] = await self._jobs(self.jobs)
            self._last = (self.clock(), report)
            return report

    async def _read(self) -> str:
        if self.db.damage is not None:
            return self.db.damage
        try:
            await self.db.lookup(lambda c: c.execute("SELECT 1 FROM schema_migrations LIMIT 1"))
        except StoreError as error:
            return str(error)
        return "ok"

    async def _write(self) -> str:
        try:
            await self.db.write(lambda conn: None, timeout=WRITE_PROBE_TIMEOUT)
        except StoreError as error:
            return str(error)
        return "ok"

    async def _jobs(self, jobs: JobQueue) -> dict[str, Any]:
        try:
            backlog = await jobs.backlog()
        except StoreError as error:
            return {"error": str(error)}
        return {
            "due": backlog.depth,
            "oldest_due_seconds": round(backlog.oldest_age, 3),
            "running": backlog.held,
        }

    def _disk(self) -> str:
        try:
            problem = disk_check(free_bytes(self.data_dir), self.min_free_disk)
        except OSError as error:
            return f"cannot measure free space: {error.strerror}"
        return problem or "ok"
