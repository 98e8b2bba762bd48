"""Loses nothing, stops cleanly, backs up under load, survives a mixed soak.

Real server processes, real SQLite files, real signals. Counts are written to
``test-artifacts/reliability.json`` so a run's figures can be reported.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.load import soak, writing
from tests.seed import seed_items
from tests.support import ONEBIN, ServerProcess, make_token, split_response, wait_until

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def report(name: str, figures: dict) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "reliability.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[name] = figures
    path.write_text(json.dumps(existing, indent=2))


def rows(path: Path) -> dict[int, sqlite3.Row]:
    """Items in a database file (or a data dir's), after checking the file is intact."""
    if path.is_dir():
        path = path / "onebin.sqlite3"
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row["id"]: row for row in conn.execute("SELECT * FROM items")}
    finally:
        conn.close()


@pytest.mark.parametrize("kill_after", [25, 150, 400])
def test_sigkill_under_concurrent_writes_loses_no_acknowledged_item(tmp_path, kill_after):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = ServerProcess(data_dir).start()
    try:
        with writing(server.url, token, clients=8, prefix="k") as log:
            wait_until(lambda: log.count() >= kill_after, timeout=60, what=f"{kill_after} acks")
            server.kill()
        server.start()
        found = rows(data_dir)
    finally:
        server.stop()
    missing = set(log.acknowledged) - set(found)
    assert not missing, f"{len(missing)} acknowledged items lost"
    for item_id, name in log.acknowledged.items():
        assert found[item_id]["name"] == name
    for row in found.values():  # nothing half-written, acknowledged or not
        assert row["name"].startswith("k-")
        assert row["description"] == row["name"] * 3
        assert msgspec.json.decode(row["tags"]) == ["k"]
        assert row["version"] == 1
    report(
        f"kill_after_{kill_after}",
        {"acknowledged": len(log.acknowledged), "found_after_restart": len(found)},
    )


def test_sigterm_finishes_in_flight_request_then_exits_zero(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = ServerProcess(data_dir, extra_args=("--graceful-timeout", "20")).start()
    body = b'{"name": "in flight during shutdown"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(
            b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"Authorization: Bearer "
            + token.encode()
            + b"\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        # "100 Continue" proves the handler is running and waiting for the body.
        assert sock.recv(4096).startswith(b"HTTP/1.1 100")
        server.process.send_signal(signal.SIGTERM)
        # Once shutdown has begun, new connections are refused...
        wait_until(lambda: not _accepts(server.port), timeout=10, what="listener to close")
        # ...while the slow request already in flight still completes.
        sock.sendall(body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert split_response(response)[0] == 201
    assert server.process.wait(timeout=30) == 0
    names = [row["name"] for row in rows(data_dir).values()]
    assert names == ["in flight during shutdown"]
    wal = data_dir / "onebin.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def onebin(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONEBIN, *argv], capture_output=True, text=True, timeout=120)


def test_backup_under_write_load_is_consistent_and_restore_refuses_running_server(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = ServerProcess(data_dir).start()
    copy = tmp_path / "backups" / "copy.sqlite3"
    copy.parent.mkdir()  # backup writes into a directory, never creates one
    try:
        with writing(server.url, token, clients=4, prefix="b") as log:
            wait_until(lambda: log.count() >= 100, timeout=60, what="100 acks before backup")
            acked_before = set(log.acknowledged)
            made = onebin("backup", str(copy), "--data-dir", str(data_dir))
            assert made.returncode == 0, made.stderr
            wait_until(
                lambda: log.count() >= len(acked_before) + 50, timeout=60, what="writes after"
            )
            refused = onebin("restore", str(copy), "--data-dir", str(data_dir))
            assert refused.returncode == 1
            assert "in use by a running onebin process" in refused.stderr
    finally:
        server.stop()
    in_copy = rows(copy)
    assert acked_before <= set(in_copy)
    assert len(in_copy) < log.count()  # a snapshot, not the later state
    assert onebin("backup", str(copy), "--data-dir", str(data_dir)).returncode == 1  # no overwrite

    restored = onebin("restore", str(copy), "--data-dir", str(data_dir))
    assert restored.returncode == 0, restored.stderr
    kept = [p for p in data_dir.glob("onebin.sqlite3.before-restore-*") if p.name.endswith("Z")]
    assert len(kept) == 1
    assert set(log.acknowledged) <= set(rows(kept[0]))  # the replaced data is kept
    with ServerProcess(data_dir) as again:
        listed = httpx.get(f"{again.url}/api/items", params={"limit": "100"}).json()
        assert {item["id"] for item in listed["items"]} <= set(in_copy)
    assert set(rows(data_dir)) == set(in_copy)
    report(
        "backup",
        {
            "acknowledged_before_backup": len(acked_before),
            "rows_in_backup": len(in_copy),
            "acknowledged_total": log.count(),
        },
    )


def test_restore_refuses_a_damaged_file(tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    result = onebin("restore", str(junk), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert "not a onebin database" in result.stderr


def test_soak_mixed_load_has_no_errors_and_flat_memory(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    with ServerProcess(data_dir) as server:
        result = soak(server.url, token, server.process.pid, seconds=20)
        wal = (data_dir / "onebin.sqlite3-wal").stat().st_size
    report(
        "soak_20s",
        {
            "requests": result.requests,
            "errors": result.errors,
            "p99_ms": round(result.p99_ms, 2),
            "rss_start_kib": result.rss_start_kib,
            "rss_end_kib": result.rss_end_kib,
            "wal_bytes": wal,
        },
    )
    assert result.requests > 1000
    assert result.errors == 0
    assert result.rss_end_kib - result.rss_start_kib < 16 * 1024, "RSS grew by more than 16 MiB"
    assert wal < 32 * 1024 * 1024, f"the WAL grew to {wal:,} bytes"  # disk, not only memory


def test_backup_finishes_under_steady_writes(tmp_path):
    """The old backup restarted its copy at every commit: under 8 writers a 60 MB file
    took two minutes, a larger one never finished. One snapshot does not restart."""
    data_dir = tmp_path / "data"
    seed_items(data_dir, 40_000, describe=lambda i: f"filler text {i} " * 60)
    token = make_token(data_dir)
    server = ServerProcess(data_dir).start()
    copy = tmp_path / "copy.sqlite3"
    try:
        with writing(server.url, token, clients=8, prefix="u") as log:
            wait_until(lambda: log.count() >= 200, timeout=60, what="writers under way")
            acked_before = set(log.acknowledged)
            started = time.monotonic()
            made = onebin("backup", str(copy), "--data-dir", str(data_dir))  # 120 s at most
            took = time.monotonic() - started
            assert made.returncode == 0, made.stderr
            written_during = log.count() - len(acked_before)
    finally:
        server.stop()
    in_copy = rows(copy)
    assert acked_before <= set(in_copy)
    assert len(in_copy) >= 40_000
    report("backup_under_load", {"seconds": round(took, 2), "writes_meanwhile": written_during})


def test_scheduled_backups_are_verified_and_pruned(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    args = ("--backup-every", "1s", "--backup-keep", "2")
    server = ServerProcess(data_dir, extra_args=args).start()
    try:
        with writing(server.url, token, clients=2, prefix="s"):
            wait_until(
                lambda: server.log().count("backup written and verified") >= 4,
                timeout=60,
                what="four scheduled backups",
            )
        assert "removed old backup" in server.log()
    finally:
        server.stop()
    kept = sorted((data_dir / "backups").glob("onebin-*.sqlite3"))
    assert len(kept) == 2
    older, newer = (set(rows(path)) for path in kept)  # rows() runs integrity_check
    assert older <= newer
    assert all(path.stat().st_mode & 0o077 == 0 for path in kept)  # private, like the data
