"""Group commit and write deadlines, on real SQLite files and real locks."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3

import pytest

from onebin.errors import WriteTimeout
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase

THINGS = Migration(
    "demo", 1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"
)


def insert(name: str):
    def fn(conn: sqlite3.Connection) -> int:
        return conn.execute("INSERT INTO things (name) VALUES (?)", (name,)).lastrowid

    return fn


def names(db: SQLiteDatabase) -> list[str]:
    return db.read_sync(lambda c: [r[0] for r in c.execute("SELECT name FROM things ORDER BY id")])


def wal_frames(path) -> int:
    """Frames in the WAL: every commit writes the pages it changed once more."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path):
    database = SQLiteDatabase(tmp_path / "db.sqlite3", [THINGS], write_timeout=0.5)
    database.open()
    yield database
    database.close()


def test_concurrent_writes_share_one_commit(db, tmp_path):
    """64 waiting writes cost one commit (a few WAL frames), not 64 (one per write)."""

    async def many():
        await asyncio.sleep(0)
        return await asyncio.gather(*(db.write(insert(f"w{i}")) for i in range(64)))

    ids = asyncio.run(many())
    assert len(set(ids)) == 64
    assert len(names(db)) == 64
    # Each separate commit would rewrite the table's leaf page: 64+ frames.
    assert wal_frames(tmp_path / "db.sqlite3") < 10


def test_a_failing_write_rolls_back_alone(db):
    def half_then_fail(conn):
        conn.execute("INSERT INTO things (name) VALUES ('half')")
        raise ValueError("this write changes its mind")

    async def batch():
        return await asyncio.gather(
            db.write(insert("before")),
            db.write(half_then_fail),
            db.write(insert("before")),  # UNIQUE violation: fails alone too
            db.write(insert("after")),
            return_exceptions=True,
        )

    results = asyncio.run(batch())
    assert isinstance(results[0], int)
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert isinstance(results[3], int)
    assert names(db) == ["before", "after"]


def test_a_write_that_cannot_start_in_time_gets_write_timeout_and_never_runs(db, tmp_path):
    """Another process holding the write lock (a frozen worker) stalls nobody for ever."""
    lock = os.open(tmp_path / "db.sqlite3.write-lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another open file description: another "process"
    ran = []

    def recorded(conn):
        ran.append(True)
        return insert("late")(conn)

    async def attempt():
        started = asyncio.get_running_loop().time()
        with pytest.raises(WriteTimeout):
            await db.write(recorded)
        return asyncio.get_running_loop().time() - started

    try:
        waited = asyncio.run(attempt())
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    assert 0.4 < waited < 2
    assert asyncio.run(db.write(insert("next"))) > 0  # the queue moves on once it is free
    assert names(db) == ["next"]
    assert ran == []  # timed out means never run


def test_command_line_write_also_has_a_deadline(db, tmp_path):
    lock = os.open(tmp_path / "db.sqlite3.write-lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with pytest.raises(WriteTimeout):
            db.write_sync(insert("cli"))
    finally:
        os.close(lock)
    assert db.write_sync(insert("cli")) > 0


def test_a_started_write_is_seen_through_when_its_caller_is_cancelled(db):
    async def cancel_after_start():
        loop = asyncio.get_running_loop()
        started = loop.create_future()

        def slow(conn):
            started.set_result(None)
            return insert("kept")(conn)

        task = asyncio.ensure_future(db.write(slow))
        await started
        task.cancel()
        return await task  # the answer matches the disk: the write went through

    assert asyncio.run(cancel_after_start()) > 0
    assert names(db) == ["kept"]


def test_a_write_not_started_is_dropped_when_its_caller_is_cancelled(db, tmp_path):
    lock = os.open(tmp_path / "db.sqlite3.write-lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)

    async def cancel_while_queued():
        task = asyncio.ensure_future(db.write(insert("dropped")))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fcntl.flock(lock, fcntl.LOCK_UN)
        await db.write(insert("next"))

    try:
        asyncio.run(cancel_while_queued())
    finally:
        os.close(lock)
    assert names(db) == ["next"]


def test_a_write_that_loses_the_transaction_fails_with_the_rest_of_its_batch(tmp_path):
    """An error that makes SQLite roll back the whole transaction is a fault for every
    write in it (none is acknowledged), and the writes after it still run."""
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [THINGS], query_timeout=0.2) as db:

        def endless(conn):  # interrupted by the deadline: SQLite aborts the transaction
            conn.execute("INSERT INTO things (name) VALUES ('endless')")
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                "UPDATE things SET name = name WHERE id IN (SELECT i FROM n)"
            )

        async def batch():
            return await asyncio.gather(
                db.write(insert("first")),
                db.write(endless),
                db.write(insert("last")),
                return_exceptions=True,
            )

        first, middle, last = asyncio.run(batch())
        assert type(first).__name__ == "QueryTimeout"
        assert type(middle).__name__ == "QueryTimeout"
        assert isinstance(last, int)
        assert names(db) == ["last"]


def test_the_wal_stays_bounded_under_steady_writes(tmp_path):
    """Checkpoints that ran beside the writers never let the WAL start over: it grew by
    about 15 KB per write, past a gigabyte, while the database itself stayed small."""
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [THINGS]) as db:

        async def steady() -> None:
            for number in range(4000):  # one commit each: the WAL gets pages every time
                await db.write(insert(f"w{number}"))

        asyncio.run(steady())
        wal = (tmp_path / "db.sqlite3-wal").stat().st_size
    assert wal < 8 * 1024 * 1024, f"the WAL grew to {wal:,} bytes for 4,000 small writes"
