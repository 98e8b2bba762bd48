"""Real disk faults: a full file system, a read-only one, a damaged page.

The file systems are real tmpfs mounts (the suite runs as root, as CI does), so
SQLite meets ENOSPC and EROFS from the kernel, not from a stand-in.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from onebin.errors import DatabaseDamaged, OnebinError, StorageFull
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase

THINGS = Migration("demo", 1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY, body TEXT)")
MIB = 1024 * 1024


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount_tmpfs(mount, "4m")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Take all free space on ``disk`` but ``leave`` bytes; the filler file's path."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


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
