"""Putting jobs in the queue, from inside the write that makes them necessary.

``JobQueue.enqueue`` is a plain function called with the connection of a
``db.write`` function, so the job is part of that transaction: it exists if and only
if the change it follows committed (no job for a rolled-back change, no change
without its job). On PostgreSQL it also sends a notice, delivered at commit, that
wakes idle runners at once; without it they find the job at their next poll.

The rest is what the command line and ``/readyz`` need: a job by id, a listing,
retry, cancel, the backlog, and pruning of finished jobs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from onebin.errors import NotFound, StoreError
from onebin.jobs.schedule import check_kind
from onebin.jobs.tables import SQL
from onebin.store.database import Connection, Engine
from onebin.store.notices import Notices, notices_for

CHANNEL = "onebin_jobs"
DEFAULT_MAX_ATTEMPTS = 10
# How much of a failure's message is kept in ``last_error``.
MAX_ERROR_CHARS = 2000
# /readyz counts due jobs up to this many: enough to see a backlog, cheap to count.
DEPTH_CAP = 10_000
STATES = ("queued", "running", "done", "dead", "cancelled")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt at a job, as its handler gets it.

    ``payload`` is the JSON object given to ``enqueue`` (decoded again); ``attempt``
    counts from 1, and a handler sees the same job again, with the next attempt
    number, after it failed or after its process was lost while it ran: handlers
    must tolerate running more than once (at-least-once delivery).
    """

    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int


@dataclass(frozen=True)
class JobRecord:
    """A job's row as stored, for the command line."""

    id: int
    kind: str
    payload: str
    state: str
    attempts: int
    max_attempts: int
    run_at: float
    worker: str | None
    idempotency_key: str | None
    last_error: str | None
    created_at: float
    finished_at: float | None

    @classmethod
    def of(cls, row: Any) -> JobRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Backlog:
    """Jobs due now (queued, or their holder lost), how long the oldest of them has
    waited, and how many processes hold under a live lease."""

    depth: int
    oldest_age: float
    held: int = 0


def describe_error(error: BaseException) -> str:
    """What ``last_error`` keeps of a failure: its type and message, truncated."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text


def encode_payload(payload: Mapping[str, Any] | None) -> str:
    """The payload as stored: a JSON object (``None`` is the empty one)."""
    if payload is None:
        return "{}"
    if not isinstance(payload, Mapping):
        raise TypeError(f"a job's payload is a JSON object (a dict), not {type(payload).__name__}")
    return _encode(payload).decode()


def decode_payload(text: str) -> dict[str, Any]:
    return _decode(text)


class JobQueue:
    """``context.jobs``: enqueue jobs in a write; inspect and steer them from the CLI.

    ``clock`` is wall time: run times are compared by every process and replica.
    """

    def __init__(
        self,
        db: Engine,
        notices: Notices | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.sql = SQL[db.engine]
        # Without the process's notices (the command line, tests): the engine's own,
        # never started, so a retried job still wakes the servers' runners.
        self.notices: Notices = notices or notices_for(db, (CHANNEL,))
        self.clock = clock

    def enqueue(
        self,
        conn: Connection,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        delay: float = 0.0,
        run_at: float | None = None,
        key: str | None = None,
        max_attempts: int | None = None,
    ) -> int | None:
        """Add a job inside the caller's write transaction; its id, or None if ``key`` is taken.

        Call it from a ``db.write`` function with that function's connection. The
        job runs ``delay`` seconds from now, or at ``run_at`` (epoch seconds) when
        given. ``key`` is an idempotency key: a job with the same key already in
        the queue (whatever its state, until it is pruned) means this one is not
        added. ``max_attempts`` (default 10) bounds how often it is tried before it
        is left ``dead``.
        """
        check_kind(kind)
        attempts = DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts
        if not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, not {max_attempts!r}")
        now = self.clock()
        when = now + delay if run_at is None else run_at
        if not math.isfinite(when):
            raise ValueError("a job's run time must be a finite number of seconds")
        row = conn.execute(
            self.sql.enqueue, (kind, encode_payload(payload), attempts, when, key, now)
        ).fetchone()
        if row is None:
            return None
        self.notices.notify(conn, CHANNEL)
        return int(row["id"])

    # What the command line and /readyz use.

    async def backlog(self) -> Backlog:
        """The due jobs (counted up to ``DEPTH_CAP``) and the oldest one's age.

        Both walk the due index only as far as the backlog reaches, and off the
        event loop: a backlog of thousands must not stall requests on SQLite.
        """
        now = self.clock()

        def read(conn: Connection) -> tuple[int, float | None, int]:
            depth = conn.execute(self.sql.depth, (now, DEPTH_CAP)).fetchone()["depth"]
            oldest = conn.execute(self.sql.oldest, (now,)).fetchone()["oldest"]
            held = conn.execute(self.sql.held, (now, DEPTH_CAP)).fetchone()["held"]
            return int(depth), oldest, int(held)

        depth, oldest, held = await self.db.read(read)
        return Backlog(depth, 0.0 if oldest is None else max(0.0, now - oldest), held)

    # Each of these is one function of a connection, run on the calling thread by the
    # command line (``get``, ``list``, ``retry``, ``cancel``) and on the loop's database
    # paths by the console (``*_async``): one set of rules for both.

    def get(self, job_id: int) -> JobRecord:
        return self.db.read_sync(self._getting(job_id))

    def list(self, *, state: str | None = None, limit: int = 50) -> list[JobRecord]:
        """The newest ``limit`` jobs, of one ``state`` when given."""
        return self.db.read_sync(self._listing(state, limit))

    async def list_async(self, *, state: str | None = None, limit: int = 50) -> list[JobRecord]:
        return await self.db.read(self._listing(state, limit))

    def retry(self, job_id: int) -> JobRecord:
        """A dead or cancelled job queued again, due now, with its attempts reset;
        ``NotFound`` for an unknown id, ``StoreError`` for a job in another state."""
        return self.db.write_sync(self._retrying(job_id))

    async def retry_async(self, job_id: int) -> JobRecord:
        return await self.db.write(self._retrying(job_id))

    def cancel(self, job_id: int) -> JobRecord:
        """A queued job cancelled; a running one cannot be (its handler is under way)."""
        now = self.clock()
        cancel, get = self.sql.cancel, self._getting(job_id)

        def cancelled(conn: Connection) -> JobRecord:
            row = conn.execute(cancel, (now, job_id)).fetchone()
            if row is None:
                raise _unchanged(get(conn), "cancelled", ("queued",))
            return JobRecord.of(row)

        return self.db.write_sync(cancelled)

    async def counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state named, 0 for none)."""
        counts = self.sql.counts

        def read(conn: Connection) -> dict[str, int]:
            found = {row["state"]: int(row["n"]) for row in conn.execute(counts).fetchall()}
            return {state: found.get(state, 0) for state in STATES}

        return await self.db.read(read)

    def _getting(self, job_id: int) -> Callable[[Connection], JobRecord]:
        get = self.sql.get

        def read(conn: Connection) -> JobRecord:
            row = conn.execute(get, (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id}")
            return JobRecord.of(row)

        return read

    def _listing(self, state: str | None, limit: int) -> Callable[[Connection], list[JobRecord]]:
        if state is None:
            query, args = self.sql.listing, (limit,)
        else:
            query, args = self.sql.listing_in_state, (state, limit)
        return lambda conn: [JobRecord.of(row) for row in conn.execute(query, args).fetchall()]

    def _retrying(self, job_id: int) -> Callable[[Connection], JobRecord]:
        now = self.clock()
        retry_now, get = self.sql.retry_now, self._getting(job_id)

        def retry(conn: Connection) -> JobRecord:
            row = conn.execute(retry_now, (now, job_id)).fetchone()
            if row is None:
                raise _unchanged(get(conn), "retried", ("dead", "cancelled"))
            self.notices.notify(conn, CHANNEL)
            return JobRecord.of(row)

        return retry

    async def prune(self, before: float, *, limit: int = 5000) -> int:
        """Delete up to ``limit`` done or cancelled jobs that finished before ``before``.

        Bounded, so one write stays short; the caller repeats while it deletes ``limit``.
        """
        return await self.db.write(
            lambda conn: conn.execute(self.sql.prune, (before, limit)).rowcount
        )


def _unchanged(record: JobRecord, verb: str, allowed: tuple[str, ...]) -> StoreError:
    """Why a job was not ``verb``: its state is none of ``allowed``."""
    return StoreError(
        f"job {record.id} is {record.state}: only a {' or '.join(allowed)} job can be {verb}"
    )
