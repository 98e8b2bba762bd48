"""Clean-close notes and start-up checks, with real files and a real SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from onebin.errors import DatabaseDamaged
from onebin.store.integrity import check_at_start, closed_cleanly, run_check
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase

THINGS = Migration("demo", 1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY, body TEXT)")

WRITE_THEN_DIE = """
import os, signal, sys
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase
db = SQLiteDatabase(__import__("pathlib").Path(sys.argv[1]), [Migration("demo", 1, "things",
    "CREATE TABLE things (id INTEGER PRIMARY KEY, body TEXT)")])
db.open()
db.write_sync(lambda c: c.execute("INSERT INTO things (body) VALUES ('x')"))
os.kill(os.getpid(), signal.SIGKILL)
"""


def make(path, rows: int = 500) -> None:
    with SQLiteDatabase(path, [THINGS]) as db:
        db.write_sync(
            lambda c: c.executemany(
                "INSERT INTO things (body) VALUES (?)", [("z" * 400,) for _ in range(rows)]
            )
        )


def test_a_clean_close_is_noted_and_not_checked_again(tmp_path):
    path = tmp_path / "db.sqlite3"
    make(path)
    assert closed_cleanly(path)
    assert check_at_start(path) is False


def test_a_killed_process_leaves_a_file_that_is_checked(tmp_path):
    path = tmp_path / "db.sqlite3"
    make(path)
    result = subprocess.run([sys.executable, "-c", WRITE_THEN_DIE, str(path)], check=False)
    assert result.returncode == -signal.SIGKILL
    assert not closed_cleanly(path)
    assert check_at_start(path) is True  # checked, and intact


def test_a_file_changed_after_its_clean_close_is_checked_and_refused_if_damaged(tmp_path):
    path = tmp_path / "db.sqlite3"
    make(path, rows=3000)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size // 2)
        file.write(b"\x00\xff" * 8192)
    assert not closed_cleanly(path)
    with pytest.raises(DatabaseDamaged, match="onebin restore PATH"):
        check_at_start(path)
    assert run_check(path, "integrity_check")  # `onebin check` lists the problems
