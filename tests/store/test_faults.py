"""Real disk faults: a full file system, a read-only one, a damaged page.

The file systems are real tmpfs mounts (``tests.disks``), so SQLite meets ENOSPC
and EROFS from the kernel, not from a stand-in.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from onebin.errors import DatabaseDamaged, OnebinError, StorageFull
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase
from tests.disks import fill, remount, tmpfs

THINGS = Migration("demo", 1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY, body TEXT)")
MIB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "4m") as mount:
        yield mount


def count(db: SQLiteDatabase) -> int:
    return db.read_sync(lambda c: c.execute("SELECT count(*) FROM things").fetchone()[0])


def test_full_disk_is_storage_full_then_recovers_without_reopening(small_disk):
    path = small_disk / "db.sqlite3"
    with SQLiteDatabase(path, [THINGS]) as db:

        def big(conn):
            conn.execute("INSERT INTO things (body) VALUES (?)", ("x" * 200_000,))

        asyncio.run(db.write(big))
        filler = fill(small_disk, leave=64 * 1024)

        async def until_full() -> None:
            for _ in range(20):
                await db.write(big)

        with pytest.raises(StorageFull):
            asyncio.run(until_full())
        before = count(db)
        filler.unlink()  # the operator frees space; the same process carries on
        asyncio.run(db.write(big))
        assert count(db) == before + 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_opening_on_a_read_only_file_system_is_a_one_line_error(small_disk):
    path = small_disk / "db.sqlite3"
    with SQLiteDatabase(path, [THINGS]) as db:
        db.write_sync(lambda c: c.execute("INSERT INTO things (body) VALUES ('a')"))
    remount(small_disk, "ro")
    try:
        with pytest.raises(OnebinError, match="Read-only file system") as refused:
            SQLiteDatabase(path, [THINGS]).open()
        assert "\n" not in str(refused.value)
    finally:
        remount(small_disk, "rw")


def damage_table_pages(path: Path) -> None:
    """Overwrite the middle of the file, where the table's pages are, with garbage."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size // 2)
        file.write(b"\xde\xad\xbe\xef" * 4096)


def test_a_damaged_page_is_database_damaged_and_remembered(tmp_path):
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [THINGS]) as db:
        db.write_sync(
            lambda c: c.executemany(
                "INSERT INTO things (body) VALUES (?)", [("y" * 500,) for _ in range(2000)]
            )
        )
    damage_table_pages(path)
    db = SQLiteDatabase(path, [THINGS])
    db.open()
    try:
        with pytest.raises(DatabaseDamaged, match="onebin restore"):
            asyncio.run(
                db.read(lambda c: c.execute("SELECT sum(length(body)) FROM things").fetchall())
            )
        assert db.damage is not None
    finally:
        db.close()


def test_text_damaged_inside_an_intact_page_is_database_damaged(tmp_path):
    """Bytes overwritten inside a row's text leave every page well-formed (SQLite's own
    checks pass); reading the row is still damage, never a 500."""
    path = tmp_path / "db.sqlite3"
    with SQLiteDatabase(path, [THINGS]) as db:
        db.write_sync(lambda c: c.execute("INSERT INTO things (body) VALUES (?)", ("q" * 300,)))
    raw = path.read_bytes()
    at = raw.index(b"q" * 300)
    path.write_bytes(raw[:at] + b"\xff\xfe" * 150 + raw[at + 300 :])
    db = SQLiteDatabase(path, [THINGS])
    db.open()
    try:
        with pytest.raises(DatabaseDamaged, match="not valid UTF-8") as damaged:
            asyncio.run(db.read(lambda c: c.execute("SELECT body FROM things").fetchall()))
        assert "\ufffd" not in str(damaged.value)  # the damaged value is not repeated
        assert db.damage is not None
    finally:
        db.close()
