from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time

import pytest

from onebin.errors import ForeignDatabase, OnebinError, QueryTimeout, StoreError
from onebin.store.connection import APPLICATION_ID
from onebin.store.migrations import Migration, applied_versions
from onebin.store.sqlite import SQLiteDatabase

ONE = Migration("demo", 1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)")
TWO = Migration(
    "demo",
    2,
    "parts",
    "CREATE TABLE parts (id INTEGER PRIMARY KEY, thing_id INTEGER NOT NULL REFERENCES things(id))",
)


def test_open_creates_file_with_wal_foreign_keys_and_busy_timeout(tmp_path):
    path = tmp_path / "new" / "db.sqlite3"
    with SQLiteDatabase(path, [ONE]) as db:
        assert path.exists()
        pragmas = db.read_sync(
            lambda c: (
                c.execute("PRAGMA journal_mode").fetchone()[0],
                c.execute("PRAGMA foreign_keys").fetchone()[0],
                c.execute("PRAGMA busy_timeout").fetchone()[0],
                c.execute("PRAGMA synchronous").fetchone()[0],
            )
        )
    assert pragmas == ("wal", 1, 5000, 2)  # synchronous 2 = FULL


def test_migrations_are_recorded_and_idempotent(tmp_path):
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [ONE]) as db:
        db.write_sync(lambda c: c.execute("INSERT INTO things (name) VALUES ('kept')"))
    with SQLiteDatabase(path, [ONE, TWO]) as db:
        versions = db.read_sync(applied_versions)
        names = db.read_sync(lambda c: [r[0] for r in c.execute("SELECT name FROM things")])
    assert versions == [("demo", 1, "things"), ("demo", 2, "parts")]
    assert names == ["kept"]


def test_failed_migration_leaves_nothing_half_applied(tmp_path):
    """Every pending migration runs in one transaction: a failure applies none of them."""
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [ONE]):
        pass
    broken = Migration("demo", 3, "broken", "CREATE TABLE ok_part (id INTEGER); CREATE TABLE (")
    with pytest.raises(StoreError):
        SQLiteDatabase(path, [ONE, TWO, broken]).open()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
    conn.close()
    assert "things" in tables
    assert "parts" not in tables  # version 2 was fine, but it came with the broken 3
    assert "ok_part" not in tables
    assert versions == [(1,)]


def test_migrations_out_of_order_are_refused(tmp_path):
    with pytest.raises(StoreError, match="out of order"):
        SQLiteDatabase(tmp_path / "db.sqlite3", [TWO]).open()


def test_foreign_keys_are_enforced(tmp_path):
    with (
        SQLiteDatabase(tmp_path / "db.sqlite3", [ONE, TWO]) as db,
        pytest.raises(sqlite3.IntegrityError),
    ):
        db.write_sync(lambda c: c.execute("INSERT INTO parts (thing_id) VALUES (99)"))


def test_failed_write_rolls_back_everything(tmp_path):
    def half(conn):
        conn.execute("INSERT INTO things (name) VALUES ('half')")
        raise RuntimeError("boom")

    with SQLiteDatabase(tmp_path / "db.sqlite3", [ONE]) as db:
        with pytest.raises(RuntimeError):
            db.write_sync(half)
        assert db.read_sync(lambda c: c.execute("SELECT count(*) FROM things").fetchone()[0]) == 0


def test_async_writes_are_serialised_and_all_committed(tmp_path):
    with SQLiteDatabase(tmp_path / "db.sqlite3", [ONE]) as db:

        async def many():
            await asyncio.gather(
                *(
                    db.write(
                        lambda c, i=i: c.execute("INSERT INTO things (name) VALUES (?)", (str(i),))
                    )
                    for i in range(50)
                )
            )

        asyncio.run(many())
        assert db.read_sync(lambda c: c.execute("SELECT count(*) FROM things").fetchone()[0]) == 50


def test_close_checkpoints_the_wal(tmp_path):
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [ONE]) as db:
        db.write_sync(lambda c: c.execute("INSERT INTO things (name) VALUES ('x')"))
        assert (tmp_path / "db.sqlite3-wal").stat().st_size > 0
    wal = tmp_path / "db.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_open_on_unwritable_path_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(OnebinError, match="exists and is not a directory"):
        SQLiteDatabase(blocker / "db.sqlite3", [ONE]).open()


SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 100000000) "
    "SELECT count(*) FROM n"
)


def test_a_slow_query_is_stopped_at_its_deadline(tmp_path):
    with SQLiteDatabase(tmp_path / "db.sqlite3", [ONE], query_timeout=0.3) as db:
        for read in (db.read, db.lookup):
            started = time.monotonic()
            with pytest.raises(QueryTimeout):
                asyncio.run(read(lambda c: c.execute(SLOW).fetchone()))
            assert time.monotonic() - started < 2
        # The connections are fine afterwards.
        assert asyncio.run(db.read(lambda c: c.execute("SELECT 1").fetchone()[0])) == 1
        assert db.read_sync(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1


def test_a_slow_read_runs_off_the_event_loop(tmp_path):
    """While a search-like read runs, the loop keeps answering (here: ticking)."""
    with SQLiteDatabase(tmp_path / "db.sqlite3", [ONE], query_timeout=0.5) as db:

        async def measure() -> float:
            loop = asyncio.get_running_loop()
            read = asyncio.ensure_future(db.read(lambda c: c.execute(SLOW).fetchone()))
            worst = 0.0
            while not read.done():
                before = loop.time()
                await asyncio.sleep(0.005)
                worst = max(worst, loop.time() - before)
            with pytest.raises(QueryTimeout):
                await read
            return worst

        assert asyncio.run(measure()) < 0.1


def test_another_applications_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "theirs.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ForeignDatabase, match="another application"):
        SQLiteDatabase(path, [ONE]).open()
    assert path.read_bytes() == before  # not switched to WAL, no tables added
    assert not (tmp_path / "theirs.sqlite3-wal").exists()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"hello, not a database" * 100)
    with pytest.raises(ForeignDatabase, match="not a SQLite database"):
        SQLiteDatabase(path, [ONE]).open()


def test_an_unmarked_database_made_by_an_earlier_onebin_is_adopted(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations (component TEXT, version INTEGER, name TEXT, "
        "applied_at TEXT, PRIMARY KEY (component, version))"
    )
    conn.execute("INSERT INTO schema_migrations VALUES ('onebin', 1, 'tokens', 'then')")
    conn.commit()
    conn.close()
    with SQLiteDatabase(path, [ONE]) as db:
        assert db.read_sync(lambda c: c.execute("PRAGMA application_id").fetchone()[0]) == (
            APPLICATION_ID
        )


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [ONE, TWO]):
        pass
    with pytest.raises(StoreError, match="newer version"):
        SQLiteDatabase(path, [ONE]).open()


def test_files_are_private_whatever_the_umask(tmp_path):
    data_dir = tmp_path / "data"
    old = os.umask(0)
    try:
        with SQLiteDatabase(data_dir / "db.sqlite3", [ONE]) as db:
            db.write_sync(lambda c: c.execute("INSERT INTO things (name) VALUES ('x')"))
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir()}
    finally:
        os.umask(old)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert modes == {
        "db.sqlite3": 0o600,
        "db.sqlite3-wal": 0o600,
        "db.sqlite3-shm": 0o600,
        "db.sqlite3.write-lock": 0o600,
    }


def test_files_of_an_older_version_are_made_private(tmp_path):
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [ONE]):
        pass
    os.chmod(path, 0o644)
    with SQLiteDatabase(path, [ONE]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_directory_where_the_database_should_be_is_named_as_such(tmp_path):
    (tmp_path / "db.sqlite3").mkdir()
    with pytest.raises(OnebinError, match="is a directory, not a database file"):
        SQLiteDatabase(tmp_path / "db.sqlite3", [ONE]).open()


def test_a_failing_migration_is_named_and_leaves_nothing(tmp_path):
    path = tmp_path / "db.sqlite3"
    broken = Migration("demo", 2, "the typo", "CREATE TABLEE nope (x)")
    with pytest.raises(StoreError, match=r"migration demo/2 \(the typo\) failed: .*syntax error"):
        SQLiteDatabase(path, [ONE, broken]).open()
    with SQLiteDatabase(path, [ONE]) as db:  # nothing of the failed start was kept
        assert (
            db.read_sync(
                lambda c: c.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
            )
            == 1
        )


@pytest.mark.parametrize("statement", ["COMMIT", "begin immediate", "ROLLBACK", "END"])
def test_a_migration_may_not_end_its_own_transaction(tmp_path, statement):
    path = tmp_path / "db.sqlite3"
    sneaky = Migration("demo", 2, "sneaky", f"CREATE TABLE a (x); {statement}; CREATE TABLE b (y)")
    with pytest.raises(
        StoreError, match=rf"migration demo/2 \(sneaky\) contains {statement.split()[0].upper()}"
    ):
        SQLiteDatabase(path, [ONE, sneaky]).open()
    with SQLiteDatabase(path, [ONE, TWO]) as db:
        tables = db.read_sync(lambda c: [r[0] for r in c.execute("SELECT name FROM sqlite_master")])
    assert "a" not in tables
