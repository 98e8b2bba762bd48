"""Jobs in real ``onebin serve`` processes: a killed process's job runs again; workers share."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, wait_until

APP = ("--app", "tests.jobs.jobapp:app")


def job_state(data_dir: Path, job_id: int) -> str:
    with sqlite3.connect(data_dir / "onebin.sqlite3") as conn:
        return conn.execute("SELECT state FROM onebin_jobs WHERE id = ?", (job_id,)).fetchone()[0]


def test_a_job_whose_process_was_killed_runs_again_after_its_lease(tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    data = tmp_path / "data"
    env = {"JOBAPP_DIR": str(traces)}
    options = (*APP, "--job-lease", "2")
    with ServerProcess(data, extra_args=options, env=env) as server:
        (job_id,) = httpx.post(f"{server.url}/enqueue?kind=block").json()["ids"]
        wait_until(lambda: (traces / f"started-{job_id}-1").exists(), what="the first attempt")
        server.kill()
    assert not (traces / f"done-{job_id}-1").exists()
    assert job_state(data, job_id) == "running"
    (traces / "release").touch()
    with ServerProcess(data, extra_args=options, env=env):
        wait_until(
            lambda: (traces / f"done-{job_id}-2").exists(), timeout=30, what="the second attempt"
        )
        wait_until(lambda: job_state(data, job_id) == "done", what="the job recorded done")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_workers_drain_the_queue_without_running_a_job_twice(tmp_path, engine, request):
    traces = tmp_path / "traces"
    traces.mkdir()
    options = (*APP, "--workers", "2")
    if engine == "postgresql":
        options += ("--database-url", request.getfixturevalue("postgres_url"))
    env = {"JOBAPP_DIR": str(traces)}
    count = 2000
    with ServerProcess(tmp_path / "data", extra_args=options, env=env) as server:
        ids: list[int] = []
        for _ in range(4):
            ids += httpx.post(f"{server.url}/enqueue?kind=count&count={count // 4}").json()["ids"]
        ran = traces / "ran"

        def lines() -> list[str]:
            return ran.read_text().splitlines() if ran.exists() else []

        wait_until(lambda: len(lines()) >= count, timeout=60, what=f"{count} jobs run")
        server.terminate()
    runs = Counter(int(line.split()[0]) for line in lines())
    assert set(runs) == set(ids)
    assert max(runs.values()) == 1
