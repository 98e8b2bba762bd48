from __future__ import annotations

import asyncio
import sqlite3

import pytest

from onebin.errors import OnebinError, StoreError
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
