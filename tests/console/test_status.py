"""``onebin status``: the console's overview in a terminal, from a data directory or a URL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import ONEBIN, make_token


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONEBIN, "status", *args], capture_output=True, text=True, timeout=120)


def test_status_of_a_data_directory_in_text(tmp_path: Path):
    data_dir = tmp_path / "data"
    make_token(data_dir)  # a database, as any first command makes it
    shown = status("--data-dir", str(data_dir))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("items ")
    assert "health        ready" in lines
    assert f"database      sqlite {(data_dir / 'onebin.sqlite3').resolve()}, " in shown.stdout
    assert "certificates  none (HTTPS is off)" in lines
    assert "backups       none; not scheduled (--backup-every)" in lines
    assert not any(line.startswith("process") for line in lines)  # no server asked


def test_status_json_is_the_overview(tmp_path: Path):
    data_dir = tmp_path / "data"
    make_token(data_dir)
    shown = status("--data-dir", str(data_dir), "--json", "--backup-every", "6h")
    assert shown.returncode == 0, shown.stderr
    facts = json.loads(shown.stdout)
    assert facts["process"] is None
    assert facts["health"]["status"] == "ready"
    assert facts["database"]["engine"] == "sqlite"
    assert facts["database"]["size_bytes"] == (data_dir / "onebin.sqlite3").stat().st_size
    assert facts["backups"]["every_seconds"] == 6 * 3600
    assert set(facts["jobs"]["counts"]) == {"queued", "running", "done", "dead", "cancelled"}


def test_status_without_a_database_is_one_line_and_fails(tmp_path: Path):
    shown = status("--data-dir", str(tmp_path / "empty"))
    assert shown.returncode == 1
    assert shown.stdout == ""
    assert shown.stderr.splitlines() == [
        f"onebin: no database at {tmp_path / 'empty' / 'onebin.sqlite3'}: wrong --data-dir? "
        "(give the server's --data-dir, or its --database-url)"
    ]
    assert not (tmp_path / "empty").exists()  # nothing was created on the way


def test_status_exits_1_when_not_ready(tmp_path: Path):
    data_dir = tmp_path / "data"
    make_token(data_dir)
    shown = status("--data-dir", str(data_dir), "--min-free-disk", "1000000GiB")
    assert shown.returncode == 1
    assert "health        NOT READY" in shown.stdout
    assert "below the floor" in shown.stdout


def test_status_of_a_postgresql_database(tmp_path: Path, postgres_url: str):
    data_dir = tmp_path / "data"
    made = subprocess.run(
        [*ONEBIN, "token", "create", "--data-dir", str(data_dir), "--database-url", postgres_url],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    url = ("--data-dir", str(data_dir), "--database-url", postgres_url)
    text = status(*url)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "backups       not taken by onebin on PostgreSQL (use pg_dump)" in text.stdout
    facts = json.loads(status(*url, "--json").stdout)
    assert facts["database"]["engine"] == "postgresql"
    assert facts["database"]["size_bytes"] > 0
    assert facts["database"]["wal_bytes"] is None
    assert facts["backups"]["supported"] is False
