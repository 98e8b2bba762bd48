"""When a job runs: the retry schedule after a failure and the slots of periodic jobs.

Both are pure functions of their inputs (the random draw and the clock are passed
in), so the schedule is unit-tested without waiting for it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from onebin.errors import AppError

# The longest wait between two attempts of a job, whatever its attempt count.
RETRY_CAP = 3600.0
# Beyond this the doubling is far past any cap; it also keeps 2**n a small float.
_MAX_DOUBLINGS = 60
KIND = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


def retry_delay(attempt: int, *, base: float, jitter: float, cap: float = RETRY_CAP) -> float:
    """Seconds to wait before the attempt after failed attempt number ``attempt`` (1-based).

    Capped exponential back-off, ``min(cap, base * 2**(attempt-1))``, with *equal*
    jitter: half of it fixed, half scaled by ``jitter`` (a draw in [0, 1)). Jitter
    spreads the retries of jobs that failed together (an outage ends, they would
    all hit the recovered service at once); keeping half fixed means a retry never
    comes back at once, as full jitter may.
    """
    if attempt < 1:
        raise ValueError("attempts count from 1")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
    return ceiling / 2 + ceiling / 2 * jitter


def check_kind(kind: str) -> str:
    """A job kind is a short name (letters, digits, ``_.:-``), fit for a log line."""
    if not isinstance(kind, str) or not KIND.fullmatch(kind):
        raise AppError(
            f"job kind {kind!r} must be 1-100 of letters, digits, '_', '.', ':' and '-', "
            "starting with a letter or digit"
        )
    return kind


@dataclass(frozen=True)
class Periodic:
    """A job of ``kind`` enqueued once per slot, across every process and replica.

    Give exactly one of ``every`` (seconds: slots are the multiples of it since the
    Unix epoch, so every process agrees on them) or ``cron`` (a five-field cron
    expression, read in UTC). A slot is enqueued ahead of time with the idempotency
    key ``periodic:KIND:SLOT``, so however many processes enqueue it, it runs once.
    Slots that fall while no process runs are skipped, not caught up.
    """

    kind: str
    every: float | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if (self.every is None) == (self.cron is None):
            raise AppError(f"Periodic({self.kind!r}): give exactly one of every= or cron=")
        if self.every is not None and not (
            isinstance(self.every, int | float) and math.isfinite(self.every) and self.every >= 1
        ):
            raise AppError(f"Periodic({self.kind!r}): every= must be at least 1 second")
        if self.cron is not None:
            try:
                next(CronSim(self.cron, datetime.now(UTC)))
            except (CronSimError, StopIteration) as exc:
                raise AppError(f"Periodic({self.kind!r}): cron {self.cron!r}: {exc}") from None

    def next_slot(self, now: float) -> float:
        """The first slot strictly after ``now`` (epoch seconds), as epoch seconds."""
        if self.every is not None:
            return (math.floor(now / self.every) + 1) * self.every
        assert self.cron is not None
        return next(CronSim(self.cron, datetime.fromtimestamp(now, UTC))).timestamp()

    def key(self, slot: float) -> str:
        """The idempotency key of one slot: the same in every process."""
        return f"periodic:{self.kind}:{slot:.0f}"
