"""``onebin serve --workers N``: real forked workers on shared sockets and one database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import httpx

from tests.load import WriterLog, run_writers
from tests.support import ONEBIN, ServerProcess, make_token, wait_until


def workers_of(pid: int) -> set[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def test_workers_share_the_port_the_database_and_stop_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = ServerProcess(data_dir, extra_args=("--workers", "2")).start()
    try:
        wait_until(lambda: len(workers_of(server.process.pid)) == 2, what="two workers")
        log, stop = WriterLog(), threading.Event()
        threads = run_writers(server.url, token, log, clients=6, stop=stop, prefix="w")
        wait_until(lambda: log.count() >= 200, timeout=60, what="200 writes through both workers")
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert log.failures == 0
        listed = httpx.get(f"{server.url}/api/items", params={"limit": "100"}).json()
        assert len(listed["items"]) == 100
        pids = workers_of(server.process.pid)
        assert server.terminate() == 0
    finally:
        server.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a worker outlived the server"
    conn = sqlite3.connect(data_dir / "onebin.sqlite3")
    stored = {row[0] for row in conn.execute("SELECT id FROM items")}
    conn.close()
    assert set(log.acknowledged) <= stored


def test_a_worker_that_dies_is_replaced_while_the_other_keeps_serving(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=("--workers", "2")) as server:
        wait_until(lambda: len(workers_of(server.process.pid)) == 2, what="two workers")
        first = workers_of(server.process.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        for _ in range(20):  # the survivor answers while the victim is replaced
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        wait_until(
            lambda: len(workers_of(server.process.pid) - {victim}) == 2,
            timeout=20,
            what="a replacement worker",
        )
        assert victim not in workers_of(server.process.pid)
        assert (
            "worker 1 exited with -9; restarting" in server.log()
            or "worker 2 exited" in server.log()
        )
        assert server.terminate() == 0


def test_workers_that_cannot_open_the_database_stop_everything(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "onebin.sqlite3").write_bytes(b"this is not a database" * 100)
    result = subprocess.run(
        [*ONEBIN, "serve", "--workers", "2", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "is not a SQLite database" in result.stderr
    assert "Traceback" not in result.stderr
