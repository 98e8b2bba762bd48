"""The job runner on each engine: claims, leases, results, retries, periodic slots, stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from onebin.errors import WriteTimeout
from onebin.jobs import runner as runner_module
from onebin.jobs.queue import Job, JobQueue
from onebin.jobs.runner import MAX_HOLD, JobRunner, Outcome, next_hold
from onebin.jobs.schedule import Periodic
from onebin.logs import RepeatLimiter
from tests.jobs.conftest import rows, run

LEASE = 30.0


def enqueue(queue: JobQueue, count: int = 1, kind: str = "work", **options: Any) -> list[int]:
    return queue.db.write_sync(
        lambda conn: [queue.enqueue(conn, kind, {"n": n}, **options) for n in range(count)]
    )


async def claim(runner: JobRunner, free: int = 10) -> list[Job]:
    """One claim by ``runner`` at its clock's time, without running what it claims."""
    now = runner.clock()
    jobs, _ = await runner.queue.db.write(
        lambda conn: runner._exchange(conn, [], [], free, now, [], now + runner.lease)
    )
    return jobs


async def record(runner: JobRunner, *outcomes: Outcome) -> None:
    now = runner.clock()
    await runner.queue.db.write(lambda conn: runner._exchange(conn, outcomes, [], 0, now, []))


def runner_for(queue: JobQueue, handlers=None, **options: Any) -> JobRunner:
    options = {"lease": LEASE, "retry_base": 0.01, "jitter": lambda: 0.0, **options}
    return JobRunner(queue, handlers or {}, **options)


async def drain(queue: JobQueue, *, timeout: float = 30.0) -> None:
    """Until no job is queued or running: polled, with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = await queue.db.read(
            lambda conn: conn.execute(
                "SELECT count(*) AS n FROM onebin_jobs WHERE state IN ('queued', 'running')"
            ).fetchone()["n"]
        )
        if left == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"jobs still pending after {timeout}s")


# Claims and leases, driven step by step on a clock that moves only when told.


def test_a_claim_takes_due_jobs_once_while_the_lease_holds(queue, clock):
    first, second = runner_for(queue, worker="a"), runner_for(queue, worker="b")
    ids = enqueue(queue, 3)

    async def scenario() -> None:
        taken = await claim(first, free=2)
        assert [job.attempt for job in taken] == [1, 1]
        rest = await claim(second)
        assert {job.id for job in taken} | {job.id for job in rest} == set(ids)
        clock.advance(LEASE - 1)
        assert await claim(second) == []

    run(scenario)
    assert {row["worker"] for row in rows(queue.db)} == {"a", "b"}


def test_a_job_whose_lease_expired_is_claimed_again_and_the_old_holder_is_ignored(queue, clock):
    lost, taker = runner_for(queue, worker="lost"), runner_for(queue, worker="taker")
    (job_id,) = enqueue(queue)

    async def scenario() -> None:
        (old,) = await claim(lost)
        clock.advance(LEASE + 1)
        (new,) = await claim(taker)
        assert (new.id, new.attempt) == (job_id, 2)
        await record(lost, Outcome(old, None))  # stale: another holds it now
        (row,) = rows(queue.db)
        assert (row["state"], row["worker"]) == ("running", "taker")
        assert "lease expired: its worker (lost)" in row["last_error"]
        await record(taker, Outcome(new, "ValueError: no"))
        (row,) = rows(queue.db)
        assert (row["state"], row["worker"], row["last_error"]) == (
            "queued",
            None,
            "ValueError: no",
        )

    run(scenario)


def test_a_job_lost_on_its_last_attempt_is_left_dead(queue, clock):
    lost, taker = runner_for(queue, worker="lost"), runner_for(queue, worker="taker")
    enqueue(queue, max_attempts=1)

    async def scenario() -> None:
        await claim(lost)
        clock.advance(LEASE + 1)
        assert await claim(taker) == []

    run(scenario)
    (row,) = rows(queue.db)
    assert (row["state"], row["attempts"], row["finished_at"]) == ("dead", 1, clock.now)
    assert row["last_error"].startswith("lease expired: its worker (lost)")


def test_a_renewed_lease_is_not_claimed(queue, clock):
    holder, other = runner_for(queue, worker="holder"), runner_for(queue, worker="other")
    enqueue(queue)

    async def scenario() -> None:
        (job,) = await claim(holder)
        holder._held[job.id] = job
        clock.advance(LEASE - 1)
        await holder.queue.db.write(
            lambda conn: holder._renew([(clock.now + LEASE, job.id, "holder", 1)], conn)
        )
        clock.advance(LEASE - 1)
        assert await claim(other) == []

    run(scenario)


def test_a_scheduled_job_is_not_claimed_before_its_time(queue, clock):
    runner = runner_for(queue)
    enqueue(queue, delay=60)

    async def scenario() -> None:
        assert await claim(runner) == []
        clock.advance(59.9)
        assert await claim(runner) == []
        clock.advance(0.2)
        assert len(await claim(runner)) == 1

    run(scenario)


def test_retries_back_off_then_the_job_is_dead_with_its_last_error(queue, clock):
    runner = runner_for(queue, worker="w", retry_base=10.0)
    enqueue(queue, max_attempts=3)

    async def scenario() -> None:
        for attempt, backoff in ((1, 5.0), (2, 10.0)):
            (job,) = await claim(runner)
            assert job.attempt == attempt
            await record(runner, Outcome(job, f"KeyError: {attempt}"))
            (row,) = rows(queue.db)
            assert (row["state"], row["run_at"]) == ("queued", clock.now + backoff)
            assert await claim(runner) == []
            clock.advance(backoff)
        (job,) = await claim(runner)
        await record(runner, Outcome(job, "KeyError: 3"))

    run(scenario)
    (row,) = rows(queue.db)
    assert (row["state"], row["attempts"], row["last_error"]) == ("dead", 3, "KeyError: 3")


# The runner as it runs in a server: real time, real tasks.


def test_the_runner_runs_jobs_and_retries_failures_until_dead(any_db):
    queue = JobQueue(any_db)
    seen: list[tuple[str, int, int]] = []

    async def ok(job: Job) -> None:
        seen.append((job.kind, job.payload["n"], job.attempt))

    async def flaky(job: Job) -> None:
        seen.append((job.kind, job.payload["n"], job.attempt))
        raise ValueError(f"attempt {job.attempt} failed")

    enqueue(queue, 2, "ok")
    enqueue(queue, 1, "flaky", max_attempts=3)
    enqueue(queue, 1, "unknown", max_attempts=2)

    async def scenario() -> None:
        runner = runner_for(queue, {"ok": ok, "flaky": flaky})
        await runner.start()
        await drain(queue)
        await runner.stop()

    run(scenario)
    assert sorted(seen) == [
        ("flaky", 0, 1),
        ("flaky", 0, 2),
        ("flaky", 0, 3),
        ("ok", 0, 1),
        ("ok", 1, 1),
    ]
    states = {row["kind"]: (row["state"], row["last_error"]) for row in rows(any_db)}
    assert states["ok"] == ("done", None)
    assert states["flaky"] == ("dead", "ValueError: attempt 3 failed")
    assert states["unknown"] == (
        "dead",
        "MissingHandler: no handler for job kind 'unknown' in this process",
    )


def test_concurrent_runners_never_run_a_job_twice(any_db):
    queue = JobQueue(any_db)
    ran: Counter[int] = Counter()

    async def work(job: Job) -> None:
        ran[job.id] += 1
        await asyncio.sleep(0)

    ids = enqueue(queue, 600)

    async def scenario() -> None:
        runners = [runner_for(queue, {"work": work}, concurrency=3) for _ in range(4)]
        for runner in runners:
            await runner.start()
        await drain(queue)
        for runner in runners:
            await runner.stop()

    run(scenario)
    assert set(ran) == set(ids)
    assert max(ran.values()) == 1
    assert {row["state"] for row in rows(any_db)} == {"done"}


def test_a_periodic_slot_is_enqueued_and_run_once_by_many_runners(queue, clock):
    ran: list[dict[str, Any]] = []

    async def tick(job: Job) -> None:
        ran.append(job.payload)

    periodic = (Periodic("tick", every=60),)
    runners = [runner_for(queue, {"tick": tick}, periodic=periodic) for _ in range(3)]
    clock.now = 6000.0 + 30

    async def scenario() -> None:
        for runner in runners:
            await runner._cycle()
        keys = [row["idempotency_key"] for row in rows(queue.db)]
        assert keys == ["periodic:tick:6060"]
        clock.advance(31)  # past the slot: it is due, and the next one is enqueued
        for runner in runners:
            await runner._cycle()
            await asyncio.sleep(0.01)  # let a claimed job's task run
        for runner in runners:
            await runner._cycle()  # record its result

    run(scenario)
    assert ran == [{"slot": 6060.0}]
    found = {row["idempotency_key"]: row["state"] for row in rows(queue.db)}
    assert found == {"periodic:tick:6060": "done", "periodic:tick:6120": "queued"}


class FlakyWrites:
    """The database, with its first ``failures`` writes refused as faults."""

    def __init__(self, db: Any, failures: int) -> None:
        self._db = db
        self.failures = failures
        self.engine = db.engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def write(self, fn: Any, **options: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise WriteTimeout("the write lock stayed busy")
        return await self._db.write(fn, **options)


def test_database_faults_while_claiming_do_not_stop_the_runner(any_db, caplog, monkeypatch):
    monkeypatch.setattr(runner_module, "failures", RepeatLimiter(logging.getLogger("onebin")))
    flaky = FlakyWrites(any_db, failures=2)
    queue = JobQueue(flaky)  # type: ignore[arg-type]
    done: list[int] = []

    async def work(job: Job) -> None:
        done.append(job.id)

    (job_id,) = enqueue(JobQueue(any_db))

    async def scenario() -> None:
        runner = runner_for(queue, {"work": work})
        await runner.start()
        await drain(queue)
        await runner.stop()

    run(scenario)
    assert done == [job_id]
    assert flaky.failures == 0
    assert "WriteTimeout: the write lock stayed busy" in caplog.text


def test_stop_lets_running_jobs_finish_and_puts_unstarted_ones_back(any_db):
    queue = JobQueue(any_db)
    started = asyncio.Event
    gate: dict[str, Any] = {}

    async def slow(job: Job) -> None:
        gate["started"].set()
        await asyncio.sleep(0.2)

    enqueue(queue, 3, "slow")

    async def scenario() -> None:
        gate["started"] = started()
        runner = runner_for(queue, {"slow": slow}, concurrency=1)
        await runner.start()
        await asyncio.wait_for(gate["started"].wait(), 10)
        await runner.stop()

    run(scenario)
    states = Counter((row["state"], row["attempts"], row["worker"]) for row in rows(any_db))
    assert states == Counter({("done", 1, None): 1, ("queued", 0, None): 2})


def test_stop_leaves_a_job_past_the_grace_period_to_its_lease(any_db):
    queue = JobQueue(any_db)

    async def stuck(job: Job) -> None:
        await asyncio.sleep(60)

    enqueue(queue, 1, "stuck")

    async def scenario() -> None:
        runner = runner_for(queue, {"stuck": stuck}, graceful_timeout=0.1)
        await runner.start()
        while not any(not task.done() for task in runner._running):
            await asyncio.sleep(0.01)
        await runner.stop()

    run(scenario)
    (row,) = rows(any_db)
    assert (row["state"], row["attempts"]) == ("running", 1)


def test_the_hold_grows_while_claims_come_back_full_and_shrinks_while_jobs_wait():
    """Two jobs per write drained 1,500 trivial jobs/s on PostgreSQL: a commit per two."""
    assert next_hold(8, 8, full=True, waiting=0) == 16
    assert next_hold(MAX_HOLD, 8, full=True, waiting=0) == MAX_HOLD
    assert next_hold(64, 8, full=False, waiting=0) == 64
    assert next_hold(64, 8, full=True, waiting=3) == 32  # slow jobs: not hoarded
    assert next_hold(8, 8, full=False, waiting=3) == 8
