"""``onebin serve --workers N``: real forked workers on shared sockets and one database."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx

from onebin.server.supervisor import restart_delay
from tests.load import WriterLog, run_writers
from tests.server.processes import running, serving_workers, wait_for_workers, workers_of
from tests.support import (
    ONEBIN,
    ServerProcess,
    make_token,
    raw_exchange,
    split_response,
    wait_until,
)


def logged_restart_delays(log: str) -> list[float]:
    return [float(delay) for delay in re.findall(r"exited with -9; restarting in ([0-9.]+)s", log)]


def kill_and_await_replacement(server: ServerProcess, victim: int) -> float:
    """SIGKILL ``victim``, wait for the supervisor to run two workers again; seconds taken."""
    started = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(serving_workers(server) - {victim}) == 2,
        timeout=15,
        what=f"a worker serving in place of {victim}",
    )
    return time.monotonic() - started


def test_restart_delay_doubles_only_in_a_crash_loop_and_is_capped():
    assert [restart_delay(deaths) for deaths in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert restart_delay(0) == restart_delay(1)
    assert restart_delay(10_000) == 10


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


def test_crashed_workers_are_replaced_backed_off_and_answered_for_meanwhile(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=("--workers", "2")) as server:
        supervisor = server.process.pid
        first = kill_and_await_replacement(server, min(wait_for_workers(server)))
        assert first < 3, f"the first crashed worker took {first:.1f}s to be replaced"
        second = kill_and_await_replacement(server, min(serving_workers(server)))
        assert second >= 1, "a second quick death in a row waits longer than the first"
        # Both at once: the crash loop's next delays leave no worker for seconds.
        for pid in workers_of(supervisor):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not workers_of(supervisor), what="both workers dead and reaped")
        wait_until(lambda: len(logged_restart_delays(server.log())) == 4, what="4 restarts")
        delays = logged_restart_delays(server.log())
        assert all(a < b for a, b in itertools.pairwise(delays)), f"no back-off: {delays}"
        assert delays[-1] >= 2, f"a crash loop should back off for seconds: {delays}"

        asked = time.monotonic()
        answer = raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1)
        status, headers, body = split_response(answer)
        assert time.monotonic() - asked < 1
        assert status == 503
        assert headers["retry-after"] == "1"
        assert json.loads(body)["error"]["code"] == "no_worker"
        assert not workers_of(supervisor), "the answer above must come from the supervisor"

        stopping = time.monotonic()
        assert server.terminate(timeout=10) == 0
        assert time.monotonic() - stopping < 3, "SIGTERM must not wait out the back-off"


def test_workers_follow_a_killed_supervisor_and_free_the_port(tmp_path):
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, extra_args=("--workers", "2")).start()
    try:
        orphans = wait_for_workers(server)
        server.kill()  # the supervisor alone: SIGKILL cannot be caught or passed on
        wait_until(
            lambda: not any(running(pid) for pid in orphans),
            timeout=15,
            what="the workers of a killed supervisor to exit",
        )
        server.start()  # the same port and data directory
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert server.terminate() == 0
    finally:
        server.stop()
    assert "Address already in use" not in server.log()


def test_sigterm_right_after_a_restart_stops_every_worker_cleanly(tmp_path):
    """A SIGTERM reaching a new worker before it had its own handlers ran the
    supervisor's handler in the child: the signal was lost (the child served on and
    was killed after the grace period) and the child stopped its siblings."""
    for round_number in range(5):
        server = ServerProcess(tmp_path / f"data{round_number}", extra_args=("--workers", "2"))
        server.start()
        try:
            first = wait_for_workers(server)
            os.kill(min(first), signal.SIGKILL)
            wait_until(
                lambda server=server, first=first: bool(workers_of(server.process.pid) - first),
                interval=0.0005,
                what="the replacement's fork",
            )
            assert server.terminate(timeout=60) == 0, server.log()
            assert "did not stop in time" not in server.log()
        finally:
            server.stop()
