"""Frozen processes under ``--workers``: one worker, or the whole service.

The freezes are real SIGSTOPs. A worker is stopped at a moment when ``/proc/locks``
says it holds the ``flock`` on the write-lock file, and checked again once stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx

from tests.load import writing
from tests.server.processes import running, serving_workers, wait_for_workers, workers_of
from tests.support import ServerProcess, make_token, wait_until

WRITE_TIMEOUT = 1.0
WORKER_TIMEOUT = 3.0


def flock_holder(path: Path) -> int | None:
    """The pid holding an exclusive ``flock`` on ``path``, from ``/proc/locks``."""
    st = path.stat()
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        # "7: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF"; waiters read "7: -> FLOCK ..."
        fields = line.split()
        if fields[1:4] == ["FLOCK", "ADVISORY", "WRITE"] and fields[5] == device:
            return int(fields[4])
    return None


def stopped(pid: int) -> bool:
    """Every thread of ``pid`` is stopped (a group stop reaches the threads one by one)."""
    tasks = Path(f"/proc/{pid}/task")
    states = [(task / "stat").read_text().rpartition(")")[2].split()[0] for task in tasks.iterdir()]
    return all(state == "T" for state in states)


def freeze_the_holder(lock: Path, workers: set[int]) -> int | None:
    """SIGSTOP the worker holding ``lock``; its pid if it still held it once stopped."""
    holder = flock_holder(lock)
    if holder not in workers:
        return None
    os.kill(holder, signal.SIGSTOP)
    wait_until(lambda: stopped(holder), timeout=5, what=f"worker {holder} to stop")
    if flock_holder(lock) == holder:
        return holder
    os.kill(holder, signal.SIGCONT)  # it let go just before it stopped: try again
    return None


def post(url: str, token: str, name: str) -> tuple[httpx.Response, float]:
    """One write on a new connection (so never to the frozen worker); its answer and time."""
    started = time.monotonic()
    response = httpx.post(
        f"{url}/api/items",
        json={"name": name},
        headers={"authorization": f"Bearer {token}"},
        timeout=WRITE_TIMEOUT + 10,
    )
    return response, time.monotonic() - started


def test_a_worker_frozen_holding_the_write_lock_is_replaced_and_writes_never_hang(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    lock = data_dir / "onebin.sqlite3.write-lock"
    timeouts = ("--write-timeout", f"{WRITE_TIMEOUT:g}", "--worker-timeout", f"{WORKER_TIMEOUT:g}")
    server = ServerProcess(data_dir, extra_args=("--workers", "2", *timeouts)).start()
    acknowledged: dict[int, str] = {}
    frozen: list[int] = []
    try:
        wait_for_workers(server)
        with writing(server.url, token, clients=6, prefix="busy") as log:
            wait_until(lambda: log.count() >= 20, what="writes through both workers")

            def freeze() -> bool:
                pid = freeze_the_holder(lock, workers_of(server.process.pid))
                frozen.extend([pid] if pid else [])
                return pid is not None

            wait_until(freeze, interval=0.005, what="a worker stopped while holding the write lock")
            [victim] = frozen

            # Until the supervisor notices, every write waits for the frozen worker's
            # lock, but only for --write-timeout: then a JSON 503 the client may retry.
            timed_out = 0
            deadline = time.monotonic() + WORKER_TIMEOUT + 10
            while "has not answered" not in server.log():
                assert time.monotonic() < deadline, "the frozen worker was never replaced"
                name = f"probe-{len(acknowledged)}-{timed_out}"
                response, elapsed = post(server.url, token, name)
                assert elapsed < WRITE_TIMEOUT + 2, f"a write took {elapsed:.1f}s"
                if response.status_code == 201:
                    acknowledged[response.json()["id"]] = name
                    continue
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "write_timeout"
                assert int(response.headers["retry-after"]) >= 1
                timed_out += 1
            assert timed_out >= 1, "no write ever waited for the frozen worker's lock"
            assert f"(pid {victim}) has not answered" in server.log()

            wait_until(
                lambda: not running(victim) and len(serving_workers(server)) == 2,
                timeout=10,
                what="a worker in place of the frozen one",
            )
            for number in range(10):
                response, _ = post(server.url, token, f"after-{number}")
                assert response.status_code == 201, response.text
                acknowledged[response.json()["id"]] = f"after-{number}"
        assert server.terminate() == 0
    finally:
        for pid in frozen:  # never leave a stopped process behind a failed test
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()
    acknowledged.update(log.acknowledged)
    conn = sqlite3.connect(data_dir / "onebin.sqlite3")
    stored = dict(conn.execute("SELECT id, name FROM items").fetchall())
    conn.close()
    lost = {item: name for item, name in acknowledged.items() if stored.get(item) != name}
    assert not lost, f"acknowledged writes missing: {lost}"


def holds(condition, *, seconds: float, what: str) -> None:
    """Check ``condition`` throughout the next ``seconds``; fail the moment it is false."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert condition(), what
        time.sleep(0.05)


def test_a_freeze_of_the_whole_service_kills_no_worker(tmp_path):
    """Ctrl-Z then ``fg``, or ``docker pause`` then ``unpause``: on resume every heartbeat
    is old, yet no worker is frozen; the supervisor used to kill them all at its first
    tick, dropping every connection."""
    worker_timeout = 2.5
    args = ("--workers", "2", "--worker-timeout", f"{worker_timeout:g}")
    server = ServerProcess(tmp_path / "data", extra_args=args, preexec_fn=os.setsid).start()
    try:
        workers = wait_for_workers(server)
        os.killpg(server.process.pid, signal.SIGSTOP)
        wait_until(lambda: all(stopped(pid) for pid in (server.process.pid, *workers)))
        time.sleep(worker_timeout + 1)  # the freeze itself, longer than --worker-timeout
        os.killpg(server.process.pid, signal.SIGCONT)

        def all_kept() -> bool:
            return "has not answered" not in server.log() and serving_workers(server) == workers

        holds(all_kept, seconds=worker_timeout + 1.5, what="a worker was replaced after the freeze")
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert server.terminate() == 0
    finally:
        with contextlib.suppress(ProcessLookupError):  # never leave it stopped
            os.killpg(server.process.pid, signal.SIGCONT)
        server.stop()
