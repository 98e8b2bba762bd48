"""The failed-token limiter in the database: counts shared by every replica that uses it.

``SharedFailureLimiter`` keeps its counts in one host's memory, so N replicas behind a
load balancer would each allow N times the limit. Here the counts are rows of the
run's database, one per (client key, fixed window), raised by an UPSERT; a key's count is its
current and previous fixed windows, exactly as in ``onebin.limiter``.

Rows older than the previous window can never count again and are deleted, at most
once per window per process, so the table holds at most two windows of keys. Unlike
the sketch its size follows the number of keys that failed in that time (a spray of
addresses makes rows, bounded by the rate the server accepts requests), and it never
over-counts: a key's count is its own.

The SQL is written once with ``?`` and rendered for psycopg's ``%s``, like the token
store's; the table exists on both engines, though onebin uses this limiter only with
``--database-url`` (on SQLite one host holds every worker, and shared memory is cheaper).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass

from onebin.limiter import seconds_until_allowed
from onebin.store.database import Connection, Engine
from onebin.store.migrations import Migration

MIGRATIONS = (
    Migration(
        "onebin",
        3,
        "failed-token counts",
        """
        CREATE TABLE auth_failures (
            client_key TEXT NOT NULL,
            period INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            PRIMARY KEY (client_key, period)
        );
        CREATE INDEX auth_failures_period ON auth_failures (period)
        """,
        postgresql="""
        CREATE TABLE auth_failures (
            client_key TEXT NOT NULL,
            period BIGINT NOT NULL,
            failures INTEGER NOT NULL,
            PRIMARY KEY (client_key, period)
        );
        CREATE INDEX auth_failures_period ON auth_failures (period)
        """,
    ),
)


@dataclass(frozen=True)
class LimiterSql:
    """Every statement of the limiter, with one engine's parameter mark."""

    recent: str = "SELECT period, failures FROM auth_failures WHERE client_key = ? AND period >= ?"
    newest: str = "SELECT max(period) AS newest FROM auth_failures WHERE client_key = ?"
    count: str = (
        "INSERT INTO auth_failures (client_key, period, failures) VALUES (?, ?, 1) "
        "ON CONFLICT (client_key, period) DO UPDATE SET failures = auth_failures.failures + 1"
    )
    prune: str = "DELETE FROM auth_failures WHERE period < ?"

    def marked(self, mark: str) -> LimiterSql:
        return LimiterSql(*(statement.replace("?", mark) for statement in astuple(self)))


SQL = {"sqlite": LimiterSql(), "postgresql": LimiterSql().marked("%s")}


class DatabaseFailureLimiter:
    """A ``FailureLimiter`` whose counts every process using ``db`` shares.

    ``now`` is wall time (``clock`` is ``time.time``): replicas on different hosts
    share no monotonic clock, and a window is the same number everywhere only on a
    clock they agree on (NTP keeps them within milliseconds; a replica whose clock
    is off by seconds counts into a neighbouring window, which the two-window count
    tolerates). A check is one indexed read, a failure one short write, both off the
    event loop on PostgreSQL.
    """

    def __init__(self, db: Engine, *, max_failures: int = 10, window_seconds: float = 60.0) -> None:
        if max_failures < 1 or window_seconds <= 0:
            raise ValueError("need max_failures >= 1 and window_seconds > 0")
        self.db = db
        self.sql = SQL[db.engine]
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock: Callable[[], float] = time.time
        # The newest window this process has pruned below: one DELETE per window.
        self._pruned = -math.inf

    async def retry_after(self, key: str, now: float) -> float | None:
        window = math.floor(now / self.window_seconds)
        recent = self.sql.recent

        def read(conn: Connection) -> list[tuple[int, int]]:
            rows = conn.execute(recent, (key, window - 1)).fetchall()
            return [(row["period"], row["failures"]) for row in rows]

        current = previous = 0
        for period, failures in await self.db.lookup(read):
            # A window ahead of ours was counted by a caller whose clock ran ahead.
            if period >= window:
                current += failures
            else:
                previous += failures
        return seconds_until_allowed(
            current,
            previous,
            now - window * self.window_seconds,
            max_failures=self.max_failures,
            window_seconds=self.window_seconds,
        )

    async def record_failure(self, key: str, now: float) -> None:
        window = math.floor(now / self.window_seconds)
        prune_below = window - 1 if window - 1 > self._pruned else None
        sql = self.sql

        def count(conn: Connection) -> None:
            newest = conn.execute(sql.newest, (key,)).fetchone()["newest"]
            # Like the shared limiter, a stale reading counts in the key's newest
            # window rather than in one already past: no failure is dropped.
            period = window if newest is None else max(window, newest)
            conn.execute(sql.count, (key, period))
            if prune_below is not None:
                conn.execute(sql.prune, (prune_below,))

        await self.db.write(count)
        if prune_below is not None:
            self._pruned = max(self._pruned, prune_below)
