"""Enqueueing in the caller's transaction, idempotency keys, and the operator's actions."""

from __future__ import annotations

import pytest

from onebin.errors import NotFound, StoreError
from onebin.jobs.queue import MAX_ERROR_CHARS, describe_error, encode_payload
from tests.jobs.conftest import rows, run


class Boom(Exception):
    pass


def test_enqueue_commits_with_the_write_and_returns_the_id(queue, clock):
    job_id = queue.db.write_sync(lambda conn: queue.enqueue(conn, "mail", {"to": "a@b"}))
    (row,) = rows(queue.db)
    assert row["id"] == job_id
    assert (row["kind"], row["state"], row["attempts"], row["max_attempts"]) == (
        "mail",
        "queued",
        0,
        10,
    )
    assert row["run_at"] == clock.now
    assert queue.get(job_id).payload == '{"to":"a@b"}'


def test_a_rolled_back_write_leaves_no_job(queue):
    def change_then_fail(conn):
        queue.enqueue(conn, "mail", {"to": "a@b"})
        raise Boom

    with pytest.raises(Boom):
        queue.db.write_sync(change_then_fail)
    with pytest.raises(Boom):
        run(lambda: queue.db.write(change_then_fail))
    assert rows(queue.db) == []


def test_an_idempotency_key_enqueues_at_most_once(queue):
    first = queue.db.write_sync(lambda conn: queue.enqueue(conn, "mail", key="order-7"))
    again = queue.db.write_sync(lambda conn: queue.enqueue(conn, "mail", {"x": 1}, key="order-7"))
    other = queue.db.write_sync(lambda conn: queue.enqueue(conn, "mail", key="order-8"))
    assert isinstance(first, int)
    assert again is None
    assert other not in (None, first)
    # Jobs without a key never collide.
    queue.db.write_sync(lambda conn: [queue.enqueue(conn, "mail") for _ in range(2)])
    assert len(rows(queue.db)) == 4


def test_delay_run_at_and_max_attempts_are_stored(queue, clock):
    later = queue.db.write_sync(lambda conn: queue.enqueue(conn, "a", delay=30))
    fixed = queue.db.write_sync(lambda conn: queue.enqueue(conn, "a", run_at=5.0, max_attempts=2))
    assert queue.get(later).run_at == clock.now + 30
    assert (queue.get(fixed).run_at, queue.get(fixed).max_attempts) == (5.0, 2)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"kind": "has space"}, "job kind"),
        ({"kind": "a", "payload": [1, 2]}, "JSON object"),
        ({"kind": "a", "max_attempts": 0}, "max_attempts"),
        ({"kind": "a", "delay": float("inf")}, "finite"),
    ],
)
def test_enqueue_refuses_bad_arguments(queue, args, error):
    with pytest.raises(Exception, match=error):
        queue.db.write_sync(lambda conn: queue.enqueue(conn, **args))
    assert rows(queue.db) == []


def test_backlog_counts_only_queued_jobs_that_are_due(queue, clock):
    for delay in (-20, -5, 0, 60):
        queue.db.write_sync(lambda conn, delay=delay: queue.enqueue(conn, "a", delay=delay))
    backlog = run(queue.backlog)
    assert backlog.depth == 3
    assert backlog.oldest_age == pytest.approx(20)
    assert backlog.held == 0


def test_backlog_counts_a_lost_holders_jobs_as_due_and_live_ones_as_held(queue, clock):
    """A killed server's running jobs, their leases run out, used to count as nothing."""
    for lease_end in (-30, -1, 25, 25):  # two holders gone, two alive
        queue.db.write_sync(
            lambda conn, end=lease_end: conn.execute(
                "INSERT INTO onebin_jobs (kind, payload, state, attempts, max_attempts, run_at, "
                "worker, created_at) VALUES ('a', '{}', 'running', 1, 10, ?, 'w', ?)".replace(
                    "?", "%s" if queue.db.engine == "postgresql" else "?"
                ),
                (clock() + end, clock() - 60),
            )
        )
    backlog = run(queue.backlog)
    assert backlog.depth == 2
    assert backlog.oldest_age == pytest.approx(30)
    assert backlog.held == 2


def test_retry_requeues_a_dead_job_with_attempts_reset(queue, clock):
    job_id = queue.db.write_sync(lambda conn: queue.enqueue(conn, "a"))
    queue.db.write_sync(
        lambda conn: conn.execute(
            "UPDATE onebin_jobs SET state = 'dead', attempts = 10, last_error = 'x' WHERE id = "
            + str(job_id)
        )
    )
    clock.advance(100)
    record = queue.retry(job_id)
    assert (record.state, record.attempts, record.run_at) == ("queued", 0, clock.now)
    with pytest.raises(StoreError, match=f"job {job_id} is queued: only a dead or cancelled"):
        queue.retry(job_id)


def test_cancel_takes_a_queued_job_only(queue):
    job_id = queue.db.write_sync(lambda conn: queue.enqueue(conn, "a"))
    assert queue.cancel(job_id).state == "cancelled"
    assert queue.retry(job_id).state == "queued"
    queue.db.write_sync(
        lambda conn: conn.execute(f"UPDATE onebin_jobs SET state = 'running' WHERE id = {job_id}")
    )
    with pytest.raises(StoreError, match="is running: only a queued job can be cancelled"):
        queue.cancel(job_id)


def test_unknown_ids_are_not_found(queue):
    for action in (queue.get, queue.retry, queue.cancel):
        with pytest.raises(NotFound, match="no job 99"):
            action(99)


def test_list_is_newest_first_and_filters_by_state(queue):
    ids = [queue.db.write_sync(lambda conn: queue.enqueue(conn, "a")) for _ in range(3)]
    queue.cancel(ids[1])
    assert [r.id for r in queue.list()] == ids[::-1]
    assert [r.id for r in queue.list(state="cancelled")] == [ids[1]]
    assert [r.id for r in queue.list(limit=1)] == [ids[2]]


def test_prune_deletes_only_old_finished_jobs(queue, clock):
    ids = [queue.db.write_sync(lambda conn: queue.enqueue(conn, "a")) for _ in range(4)]
    queue.cancel(ids[0])
    clock.advance(10)
    queue.cancel(ids[1])
    queue.db.write_sync(
        lambda conn: conn.execute(f"UPDATE onebin_jobs SET state = 'dead' WHERE id = {ids[2]}")
    )
    assert run(lambda: queue.prune(clock.now - 5)) == 1
    assert [r["id"] for r in rows(queue.db)] == ids[1:]


def test_describe_error_keeps_type_and_message_truncated():
    assert describe_error(ValueError("bad")) == "ValueError: bad"
    assert describe_error(KeyError()) == "KeyError"
    long = describe_error(RuntimeError("x" * 10_000))
    assert len(long) == MAX_ERROR_CHARS
    assert long.startswith("RuntimeError: xxx")
    assert long.endswith("...")


def test_payload_none_is_the_empty_object():
    assert encode_payload(None) == "{}"
