"""The serving processes of this host, as the console shows them.

``onebin serve`` makes one ``Host`` before it forks, so every worker inherits the
same start time, main process id and recent-requests ring; each worker then keeps
its own requests in its own section of the ring (``observer``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from onebin.console.recent import RecentRequests, packed
from onebin.types import Scope

if TYPE_CHECKING:  # onebin.server imports the composition, which imports this
    from onebin.server.access import Observer, RequestRecord


@dataclass(frozen=True)
class Host:
    """``pid`` is the process ``onebin serve`` started as (the supervisor under
    ``--workers N``); ``started`` is its wall-clock start, ``started_monotonic`` the
    same moment on the system-wide monotonic clock (uptime survives clock changes)."""

    pid: int
    started: float
    started_monotonic: float
    workers: int
    requests: RecentRequests

    @classmethod
    def starting(cls, workers: int) -> Host:
        """This process, starting now, with a ring section for each of ``workers``."""
        return cls(os.getpid(), time.time(), time.monotonic(), workers, RecentRequests(workers))

    def observer(self, number: int | None) -> Observer:
        """What worker ``number`` (None when it is the only process) adds to the
        access log's observers: each finished request into its section of the ring."""
        section = 0 if number is None else number - 1
        add = self.requests.add

        def keep(entry: RequestRecord, scope: Scope) -> None:
            add(
                section,
                packed(
                    entry.started,
                    entry.request_id,
                    entry.client,
                    entry.method,
                    entry.path,
                    entry.status,
                    entry.bytes,
                    entry.duration,
                ),
            )

        return keep

    def process(self, now_monotonic: float) -> dict[str, Any]:
        """The overview's ``process`` section. Pure."""
        return {
            "pid": self.pid,
            "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            "uptime_seconds": round(max(0.0, now_monotonic - self.started_monotonic), 3),
            "workers": self.workers,
        }
