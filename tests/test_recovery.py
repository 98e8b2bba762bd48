"""Recoveries that work when they are needed: damaged files, interrupted restores,
files that are not onebin's. Real server processes, real files, real SIGKILLs."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.seed import seed_items
from tests.support import ONEBIN, ServerProcess, make_token

DB = "onebin.sqlite3"


def onebin(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONEBIN, *argv], capture_output=True, text=True, timeout=120)


def refused_start(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``onebin serve`` that is expected to stop at start: exit 1, one line, no traceback."""
    result = onebin("serve", "--port", "0", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("onebin:")]) == 1
    return result


def names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM items")}
    finally:
        conn.close()


def damage(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size // 2)
        file.write(b"\x00\xff\x13\x37" * 4096)


def killed_with_writes(data_dir: Path, *items: str) -> None:
    """A server that wrote ``items`` and was SIGKILLed: the WAL holds them."""
    token = make_token(data_dir)
    with ServerProcess(data_dir) as server:
        for name in items:
            response = httpx.post(
                f"{server.url}/api/items",
                json={"name": name},
                headers={"authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201
        server.kill()
    assert (data_dir / f"{DB}-wal").stat().st_size > 0


@pytest.fixture
def backup_file(tmp_path) -> Path:
    """A backup holding one item, "from the backup"."""
    source = tmp_path / "source"
    token = make_token(source)
    with ServerProcess(source) as server:
        httpx.post(
            f"{server.url}/api/items",
            json={"name": "from the backup"},
            headers={"authorization": f"Bearer {token}"},
        )
    path = tmp_path / "backup.sqlite3"
    assert onebin("backup", str(path), "--data-dir", str(source)).returncode == 0
    return path


def test_serve_refuses_a_damaged_file_in_one_line_naming_restore(tmp_path):
    data_dir = tmp_path / "data"
    seed_items(data_dir, 3000, describe=lambda i: "text " * 80)
    damage(data_dir / DB)
    result = refused_start(data_dir)
    assert "damaged" in result.stderr
    assert "onebin restore" in result.stderr


def test_check_reports_damage_and_intact_files(tmp_path):
    data_dir = tmp_path / "data"
    seed_items(data_dir, 3000, describe=lambda i: "text " * 80)
    intact = onebin("check", "--data-dir", str(data_dir))
    assert intact.returncode == 0
    assert "ok" in intact.stdout
    damage(data_dir / DB)
    damaged = onebin("check", "--data-dir", str(data_dir))
    assert damaged.returncode == 1
    assert "DAMAGED" in damaged.stdout
    assert "onebin restore" in damaged.stderr


def test_restore_replaces_a_damaged_database_and_keeps_it_aside(tmp_path, backup_file):
    data_dir = tmp_path / "data"
    seed_items(data_dir, 3000, describe=lambda i: "text " * 80)
    damage(data_dir / DB)
    result = onebin("restore", str(backup_file), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    kept = [p for p in data_dir.glob(f"{DB}.before-restore-*") if p.name.endswith("Z")]
    assert len(kept) == 1
    with ServerProcess(data_dir) as server:
        listed = httpx.get(f"{server.url}/api/items").json()["items"]
    assert [item["name"] for item in listed] == ["from the backup"]


# The swap's steps, in order: the old WAL aside, the old file aside, the new one in.
CRASH_POINTS = ["journal written", "old WAL moved", "old file moved", "new file in"]


@pytest.mark.parametrize("crash_point", range(len(CRASH_POINTS)), ids=CRASH_POINTS)
def test_a_restore_interrupted_at_any_step_is_completed_by_the_next_start(
    tmp_path, backup_file, crash_point
):
    """A restore killed between its renames once let `serve` start on a new, empty
    database while the data sat in side files."""
    data_dir = tmp_path / "data"
    killed_with_writes(data_dir, "current one", "current two")
    database = data_dir / DB
    kept = data_dir / f"{DB}.before-restore-20260101T000000Z"
    # The state a crash leaves at this point: the copy is in, the journal says where to.
    shutil.copyfile(backup_file, data_dir / f"{DB}.restoring")
    (data_dir / f"{DB}.restore-journal").write_text(json.dumps({"kept": kept.name}))
    steps = [
        lambda: (data_dir / f"{DB}-wal").replace(kept.with_name(kept.name + "-wal")),
        lambda: database.replace(kept),
        lambda: (data_dir / f"{DB}.restoring").replace(database),
    ]
    for step in steps[:crash_point]:
        step()
    with ServerProcess(data_dir) as server:
        listed = httpx.get(f"{server.url}/api/items").json()["items"]
        log = server.log()
    assert [item["name"] for item in listed] == ["from the backup"]
    assert "completed an interrupted restore" in log
    assert names(kept) == {"current one", "current two"}  # with its WAL, nothing lost
    assert not (data_dir / f"{DB}.restore-journal").exists()


def test_a_restore_killed_before_its_swap_leaves_the_database_as_it_was(tmp_path):
    data_dir = tmp_path / "data"
    killed_with_writes(data_dir, "current")
    (data_dir / f"{DB}.restoring").write_bytes(b"half a copy")  # no journal yet
    with ServerProcess(data_dir) as server:
        listed = httpx.get(f"{server.url}/api/items").json()["items"]
        log = server.log()
    assert [item["name"] for item in listed] == ["current"]
    assert "left by a restore that stopped before its swap" in log
    assert not (data_dir / f"{DB}.restoring").exists()


def test_another_applications_database_is_refused_before_anything_changes(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    theirs = data_dir / DB
    conn = sqlite3.connect(theirs)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    before = theirs.read_bytes()
    assert "another application" in refused_start(data_dir).stderr
    assert theirs.read_bytes() == before
    assert not (data_dir / f"{DB}-wal").exists()


def test_a_token_revoked_after_the_backup_stays_revoked_after_a_restore(tmp_path):
    """Tokens live in the database: restoring a backup used to bring back, valid, a
    token revoked since (a leaked one)."""
    data_dir = tmp_path / "data"
    leaked = make_token(data_dir, "leaked")
    kept = make_token(data_dir, "kept")
    backup = tmp_path / "backup.sqlite3"
    assert onebin("backup", str(backup), "--data-dir", str(data_dir)).returncode == 0
    assert onebin("token", "revoke", "leaked", "--data-dir", str(data_dir)).returncode == 0
    restored = onebin("restore", str(backup), "--data-dir", str(data_dir))
    assert restored.returncode == 0, restored.stderr
    assert "1 token(s) revoked since the backup stay revoked" in restored.stderr
    with ServerProcess(data_dir) as server:
        statuses = {
            name: httpx.post(
                f"{server.url}/api/items",
                json={"name": name},
                headers={"authorization": f"Bearer {token}"},
            ).status_code
            for name, token in (("leaked", leaked), ("kept", kept))
        }
    assert statuses == {"leaked": 401, "kept": 201}
