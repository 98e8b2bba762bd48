"""The real ``onebin serve`` process: start, durability across SIGKILL, clean stop, and
the one-line refusals of a start that cannot work."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.disks import remount, tmpfs
from tests.support import ONEBIN, ServerProcess, make_token, wait_until


def test_first_start_creates_empty_database_and_serves(tmp_path):
    data_dir = tmp_path / "data"
    with ServerProcess(data_dir) as server:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{server.url}/api/items").json()["items"] == []
    assert (data_dir / "onebin.sqlite3").exists()


def test_sigkill_right_after_201_loses_no_acknowledged_item(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    headers = {"authorization": f"Bearer {token}"}
    server = ServerProcess(data_dir).start()
    try:
        acknowledged = []
        for round_number in range(3):
            for i in range(5):
                response = httpx.post(
                    f"{server.url}/api/items",
                    json={"name": f"r{round_number}-{i}"},
                    headers=headers,
                )
                assert response.status_code == 201
                acknowledged.append(response.json()["id"])
            server.kill()
            server.start()
            listed = httpx.get(f"{server.url}/api/items", params={"limit": "100"}).json()["items"]
            assert sorted(item["id"] for item in listed) == sorted(acknowledged)
    finally:
        server.stop()
    conn = sqlite3.connect(data_dir / "onebin.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_sigterm_exits_zero_and_checkpoints_wal(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = ServerProcess(data_dir).start()
    response = httpx.post(
        f"{server.url}/api/items", json={"name": "x"}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    assert server.terminate() == 0
    wal = data_dir / "onebin.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_every_file_in_the_data_directory_is_private_whatever_the_umask(tmp_path):
    """With umask 0 the directory used to be 0755 and the database 0644: any local
    user could read every item and token hash."""

    def no_umask() -> None:
        os.umask(0)

    data_dir = tmp_path / "data"
    args = ("--backup-every", "1s")
    server = ServerProcess(data_dir, extra_args=args, preexec_fn=no_umask).start()
    try:
        token = subprocess.run(
            [*ONEBIN, "token", "create", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=no_umask,
        ).stdout.strip()
        created = httpx.post(
            f"{server.url}/api/items",
            json={"name": "secret"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201
        wait_until(lambda: "backup written" in server.log(), what="a scheduled backup")
        paths = [data_dir, *data_dir.rglob("*")]
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in paths}
    finally:
        server.stop()
    loose = {
        path: oct(mode)
        for path, mode in modes.items()
        if mode & 0o077 and not path.endswith(".lock")
    }
    assert not loose, f"readable by others: {loose}"
    assert modes["data"] == 0o700
    assert modes["data/onebin.sqlite3"] == 0o600


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_0_logs_the_port_the_system_picked(tmp_path, workers):
    """``--port 0`` logged "serving on http://127.0.0.1:0", which no one can connect to."""
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*ONEBIN, "serve", "--port", "0", "--workers", workers,
             "--data-dir", str(tmp_path / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        serving = re.compile(r"onebin serving \S+ on http://127\.0\.0\.1:(\d+) ")

        def logged_port() -> str | None:
            if process.poll() is not None:
                raise AssertionError(f"server exited:\n{log_path.read_text()}")
            match = serving.search(log_path.read_text())
            return match.group(1) if match else None

        wait_until(logged_port, what="the 'onebin serving' line")
        port = int(logged_port() or 0)
        assert port != 0
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=30)


# Start-up failures: one line on stderr and a non-zero status, with or without workers.


def serve_fails(data_dir: Path, workers: str, *, port: int = 0) -> str:
    """Run ``onebin serve``, which must refuse to start; the one line it printed."""
    result = subprocess.run(
        [*ONEBIN, "serve", "--workers", workers, "--port", str(port), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode in (1, 2), result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("onebin: ")
    return lines[0]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own, to remount read-only (the suite runs as root)."""
    with tmpfs(tmp_path / "disk", "16m") as mount:
        yield mount


WORKERS = pytest.mark.parametrize("workers", ["1", "2"])


@WORKERS
@pytest.mark.parametrize("inside", [False, True], ids=["data-dir-is-the-mount", "data-dir-below"])
def test_serve_refuses_a_data_dir_on_a_read_only_file_system(disk, workers, inside):
    remount(disk, "ro")
    line = serve_fails(disk / "data" if inside else disk, workers)
    assert "Read-only file system" in line


@WORKERS
def test_serve_refuses_a_data_dir_below_a_regular_file(tmp_path, workers):
    (tmp_path / "file").write_text("not a directory")
    line = serve_fails(tmp_path / "file" / "data", workers)
    assert "Not a directory" in line


@WORKERS
def test_serve_refuses_a_database_on_a_read_only_file_system(disk, workers):
    data_dir = disk / "data"
    make_token(data_dir)
    remount(disk, "ro")
    line = serve_fails(data_dir, workers)
    assert "Read-only file system" in line


@WORKERS
def test_serve_refuses_a_read_only_database_in_a_writable_data_dir(tmp_path, workers):
    data_dir = tmp_path / "data"
    make_token(data_dir)
    database = data_dir / "onebin.sqlite3"
    # A read-only bind mount of the file alone: the directory, the lock and the WAL
    # stay writable, so only opening the database itself can find the problem.
    subprocess.run(["mount", "--bind", str(database), str(database)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(database)], check=True)
        line = serve_fails(data_dir, workers)
    finally:
        subprocess.run(["umount", "-l", str(database)], check=False)
    assert "Read-only file system" in line


@WORKERS
def test_serve_refuses_a_port_in_use(tmp_path, workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = serve_fails(tmp_path / "data", workers, port=port)
    assert f":{port}" in line
    assert "Address already in use" in line
