"""The job runner of one serving process: claims due jobs, runs them, records how they ended.

One owner task (the pump) does every write of the runner but lease renewal, and
each write does as much as it can at once: it records every result that came in
since the previous one and claims as many due jobs as there is room for. So a
drain of trivial jobs costs about one commit per batch, not two per job, and a
process with nothing to do costs one cheap indexed read per poll.

Delivery is at least once. A claimed job carries a lease (``run_at`` is its expiry,
renewed while the job is held); if its process dies, the lease runs out and any
runner claims it again. Every result is recorded only if the claim is still this
runner's (``worker`` and attempt number), so a holder that lost its lease changes
nothing. A job's kind without a handler in this process fails like a handler
error, so it retries (a newer process of a rolling deploy may have the handler)
and ends ``dead`` with a clear ``last_error`` instead of waiting for ever.

Stopping (the first SIGTERM): claim nothing more, give running jobs the grace
period, put jobs claimed but not started back in the queue, record what finished;
jobs still running after that are left to their leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from onebin.errors import StoreFault
from onebin.jobs.queue import CHANNEL, Job, JobQueue, decode_payload, describe_error
from onebin.jobs.schedule import RETRY_CAP, Periodic, retry_delay
from onebin.logs import RepeatLimiter
from onebin.store.database import Connection

logger = logging.getLogger("onebin")
failures = RepeatLimiter(logger, window=60.0)

Handler = Callable[[Job], Awaitable[None]]
# Longest wait between two looks for due jobs when no notice comes (PostgreSQL's
# LISTEN normally wakes the runner at once; SQLite's notices poll faster).
POLL = 1.0
# Pause after a database fault, doubling up to the cap while the fault lasts.
FAULT_PAUSE = 0.5
FAULT_PAUSE_CAP = 10.0
# How many jobs a runner may hold (running, or claimed and waiting for a slot) per
# concurrent slot: one batch runs while the next is claimed. While jobs finish as
# fast as they are claimed (claims come back full, and nothing claimed waits for a
# slot longer than PATIENCE), the hold doubles up to MAX_HOLD: each write then claims
# more, and the drain rate stops following the commit rate (2 per write drained
# 1,500 trivial jobs/s on PostgreSQL, 16 drained 4,200-4,900). Jobs still waiting
# for a slot after PATIENCE halve it again, so slow jobs are not hoarded away from
# other processes.
HOLD_PER_SLOT = 2
MAX_HOLD = 256
PATIENCE = 0.1


def next_hold(hold: int, base: int, *, full: bool, waiting: int) -> int:
    """How many jobs to hold after a claim: more while claims come back full and no
    job waited for a slot, back towards ``base`` while jobs wait (see MAX_HOLD)."""
    if waiting:
        return max(base, hold // 2)
    if full:
        return min(max(hold * 2, base), MAX_HOLD)
    return hold


class MissingHandler(Exception):
    """A job's kind has no handler in this process."""


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: ``error`` is None for success."""

    job: Job
    error: str | None


def worker_name() -> str:
    """Who holds a lease: host and pid (for the operator), and a nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobRunner:
    """A ``Service`` running up to ``concurrency`` jobs of this process at a time.

    ``handlers`` maps each kind to an async function of the ``Job``; it returns when
    the job is done, and raises for a failure. ``periodic`` jobs are enqueued here,
    slot by slot, by every runner; their idempotency key makes each slot run once.
    """

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        periodic: Sequence[Periodic] = (),
        *,
        concurrency: int = 4,
        lease: float = 30.0,
        retry_base: float = 2.0,
        retry_cap: float = RETRY_CAP,
        graceful_timeout: float = 10.0,
        poll: float = POLL,
        worker: str | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if concurrency < 1 or lease <= 0:
            raise ValueError("need concurrency >= 1 and a positive lease")
        self.queue = queue
        self.sql = queue.sql
        self.handlers = dict(handlers)
        self.periodic = tuple(periodic)
        self.concurrency = concurrency
        self.lease = lease
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.graceful_timeout = graceful_timeout
        self.poll = poll
        self.worker = worker or worker_name()
        self.jitter = jitter
        self.clock = queue.clock
        self._held: dict[int, Job] = {}  # claimed and not yet recorded as ended
        self._ready: deque[Job] = deque()  # claimed, waiting for a slot
        self._base_hold = HOLD_PER_SLOT * concurrency
        self._hold = self._base_hold
        self._claimed_at = 0.0
        self._running: set[asyncio.Task[None]] = set()
        self._results: list[Outcome] = []
        self._slots: dict[str, float] = {}  # periodic kind -> the slot enqueued last
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # The Service protocol.

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pump()), loop.create_task(self._renew_forever())]

    async def stop(self) -> None:
        """Stop claiming, let running jobs finish within the grace period, record them."""
        if not self._tasks:
            return
        self._stopping = True
        self._wake.set()
        pump, renewer = self._tasks
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        if self._running:
            await asyncio.wait(set(self._running), timeout=self.graceful_timeout)
        leftover = list(self._running)
        for task in leftover:  # their leases run out and another runner takes them
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        results, self._results = self._results, []
        unstarted, self._ready = list(self._ready), deque()
        if results or unstarted:
            now = self.clock()
            try:
                await self.queue.db.write(
                    lambda conn: self._exchange(conn, results, [], 0, now, unstarted)
                )
            except Exception as exc:  # the leases will bring them back
                logger.warning("job runner: recording results at stop failed: %s", exc)
        self._tasks = []

    # The pump: every claim and every result goes through here.

    async def _pump(self) -> None:
        pause = FAULT_PAUSE
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self._cycle()
            except Exception as exc:
                failures.log(
                    logging.WARNING,
                    f"jobs {type(exc).__name__}",
                    f"job runner: {describe_error(exc)}; trying again in {pause:g}s",
                    exc_info=not isinstance(exc, StoreFault),
                )
                await self._sleep(pause)
                pause = min(pause * 2, FAULT_PAUSE_CAP)
                continue
            pause = FAULT_PAUSE
            if wait is not None:
                await self._idle(wait)

    async def _cycle(self) -> float | None:
        """One exchange with the database if there is anything to exchange.

        Returns None to go again at once (there may be more due), else how long
        to wait for a wake-up at most.
        """
        now = self.clock()
        results, self._results = self._results, []
        # Jobs of an earlier claim still waiting for a slot after PATIENCE: slow ones.
        waiting = len(self._ready) if now - self._claimed_at > PATIENCE else 0
        free = self._hold - len(self._held) + len(results)
        slots = self._due_slots(now)
        if not results and not slots:
            if free <= 0:
                return self.poll  # full: a finishing job wakes the pump
            next_due = await self._next_due()
            if next_due is None or next_due > now:
                return self._until(now, next_due)
        lease_end = now + self.lease
        try:
            claimed, picked = await self.queue.db.write(
                lambda conn: self._exchange(conn, results, slots, free, now, [], lease_end)
            )
        except BaseException:
            self._results = results + self._results  # recorded by the next write
            raise
        for outcome in results:
            self._held.pop(outcome.job.id, None)
        self._slots.update((periodic.kind, slot) for periodic, slot in slots)
        for job in claimed:
            self._held[job.id] = job
            self._ready.append(job)
        self._hold = next_hold(
            self._hold, self._base_hold, full=free > 0 and picked == free, waiting=waiting
        )
        if claimed:
            self._claimed_at = now
        self._start_ready()
        if (free > 0 and picked == free) or self._results:
            return None
        return self._until(now, None)

    def _exchange(
        self,
        conn: Connection,
        results: Sequence[Outcome],
        slots: Sequence[tuple[Periodic, float]],
        free: int,
        now: float,
        unstarted: Sequence[Job],
        lease_end: float = 0.0,
    ) -> tuple[list[Job], int]:
        """Inside one write: record ``results``, release ``unstarted``, enqueue periodic
        ``slots`` and claim up to ``free`` due jobs; the jobs to run, and how many rows
        the claim took (some may have been left dead: their last holder was lost)."""
        sql, worker = self.sql, self.worker
        done, retry, dead = [], [], []
        for outcome in results:
            job = outcome.job
            claim = (job.id, worker, job.attempt)
            if outcome.error is None:
                done.append((now, *claim))
            elif job.attempt < job.max_attempts:
                delay = retry_delay(
                    job.attempt, base=self.retry_base, jitter=self.jitter(), cap=self.retry_cap
                )
                retry.append((now + delay, outcome.error, *claim))
            else:
                dead.append((now, outcome.error, *claim))
        cursor = conn.cursor()
        for statement, rows in (
            (sql.done, done),
            (sql.retry, retry),
            (sql.dead, dead),
            (sql.release, [(now, job.id, worker, job.attempt) for job in unstarted]),
        ):
            if rows:
                cursor.executemany(statement, rows)
        for periodic, slot in slots:
            self.queue.enqueue(
                conn, periodic.kind, {"slot": slot}, run_at=slot, key=periodic.key(slot)
            )
        if free <= 0:
            return [], 0
        rows = conn.execute(sql.claim, (worker, lease_end, now, now, free)).fetchall()
        jobs = [
            Job(
                row["id"],
                row["kind"],
                decode_payload(row["payload"]),
                row["attempts"],
                row["max_attempts"],
            )
            for row in rows
            if row["state"] == "running"
        ]
        return jobs, len(rows)

    async def _next_due(self) -> float | None:
        next_due = self.sql.next_due
        row = await self.queue.db.lookup(lambda conn: conn.execute(next_due).fetchone())
        return row["next_due"]

    def _due_slots(self, now: float) -> list[tuple[Periodic, float]]:
        """The periodic slots to enqueue now: the next one of each whose last has passed."""
        if self._stopping:
            return []
        due = []
        for periodic in self.periodic:
            last = self._slots.get(periodic.kind)
            if last is None or last <= now:
                due.append((periodic, periodic.next_slot(now)))
        return due

    def _until(self, now: float, next_due: float | None) -> float:
        """How long to wait: the poll, or less when a due job or a periodic slot comes sooner."""
        wait = self.poll
        if next_due is not None:
            wait = min(wait, next_due - now)
        for slot in self._slots.values():
            wait = min(wait, slot - now)
        return max(wait, 0.0)

    async def _idle(self, timeout: float) -> None:
        """Wait for a finished job, a notice or ``timeout``, whichever comes first."""
        if self._wake.is_set() or timeout <= 0:
            return
        waiters = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.queue.notices.wait(CHANNEL, timeout)),
        }
        _, pending = await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        """A pause that a stop cuts short."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        if not self._stopping:
            self._wake.clear()

    # Running the jobs.

    def _start_ready(self) -> None:
        loop = asyncio.get_running_loop()
        while self._ready and len(self._running) < self.concurrency and not self._stopping:
            task = loop.create_task(self._run(self._ready.popleft()))
            self._running.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_ready()

    async def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise MissingHandler(f"no handler for job kind {job.kind!r} in this process")
            await handler(job)
        except Exception as exc:
            error = describe_error(exc)
            last = job.attempt >= job.max_attempts
            failures.log(
                logging.WARNING,
                f"job {job.kind} failed",
                f"job {job.id} ({job.kind}) attempt {job.attempt}/{job.max_attempts} failed: "
                f"{error}" + ("; it is dead" if last else "; it will be retried"),
            )
            self._results.append(Outcome(job, error))
        else:
            self._results.append(Outcome(job, None))
        self._wake.set()

    # Leases.

    def _renew(self, rows: list[tuple[float, int, str, int]], conn: Connection) -> None:
        conn.cursor().executemany(self.sql.renew, rows)

    async def _renew_forever(self) -> None:
        """Push the lease of every held job forward, a third of a lease at a time."""
        while True:
            await asyncio.sleep(self.lease / 3)
            held = list(self._held.values())
            if not held:
                continue
            lease_end = self.clock() + self.lease
            rows = [(lease_end, job.id, self.worker, job.attempt) for job in held]
            try:
                await self.queue.db.write(functools.partial(self._renew, rows))
            except Exception as exc:
                failures.log(
                    logging.WARNING,
                    "jobs renew",
                    f"job runner: renewing {len(rows)} lease(s) failed: {describe_error(exc)}",
                )


def merged_handlers(*sets: Mapping[str, Handler]) -> dict[str, Handler]:
    """One handler map of several; a kind twice is a mistake worth stopping for."""
    merged: dict[str, Handler] = {}
    for handlers in sets:
        for kind, handler in handlers.items():
            if kind in merged:
                raise ValueError(f"job kind {kind!r} has two handlers")
            merged[kind] = handler
    return merged
