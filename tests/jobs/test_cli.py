"""``onebin jobs list/show/retry/cancel`` against a real data directory (and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from onebin.app import DEFAULT_APP, load_app
from onebin.cli import main
from onebin.compose import make_context, open_database
from onebin.config import Settings
from onebin.limiter import SharedFailureLimiter


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path) -> list[str]:
    """The options that name the database, for each engine."""
    options = ["--data-dir", str(tmp_path / "data")]
    if request.param == "postgresql":
        options += ["--database-url", request.getfixturevalue("postgres_url")]
    return options


def add_jobs(where: list[str], write: Callable) -> list[int]:
    """Jobs made as a server makes them: ``write(conn, jobs)`` in one transaction."""
    data_dir = where[1]
    url = where[3] if len(where) > 2 else None
    settings = Settings(data_dir=Path(data_dir), database_url=url)
    db = open_database(settings, load_app(DEFAULT_APP))  # what the commands open
    try:
        limiter = SharedFailureLimiter()
        jobs = make_context(settings, db, limiter).jobs
        return db.write_sync(lambda conn: write(conn, jobs))
    finally:
        db.close()


def jobs(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["jobs", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_list_show_retry_cancel(where, capsys):
    ids = add_jobs(
        where,
        lambda conn, q: [
            q.enqueue(conn, "mail", {"to": "a@b"}, key="k1"),
            q.enqueue(conn, "report", delay=3600),
        ],
    )
    status, out, _ = jobs(capsys, "list", *where)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "KIND", "STATE", "TRIES"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [str(ids[1]), "report", "queued", "0/10"],
        [str(ids[0]), "mail", "queued", "0/10"],
    ]

    status, out, _ = jobs(capsys, "show", str(ids[0]), *where)
    assert status == 0
    assert "idempotency key: k1" in out
    assert '"to": "a@b"' in out

    status, out, _ = jobs(capsys, "cancel", str(ids[0]), *where)
    assert (status, out.strip()) == (0, f"job {ids[0]} (mail) cancelled")
    status, out, _ = jobs(capsys, "list", "--state", "cancelled", "--json", *where)
    assert [(job["id"], job["payload"]) for job in json.loads(out)] == [(ids[0], {"to": "a@b"})]

    status, out, _ = jobs(capsys, "retry", str(ids[0]), *where)
    assert (status, out.strip()) == (0, f"job {ids[0]} (mail) queued again, due now")
    status, out, _ = jobs(capsys, "show", str(ids[0]), "--json", *where)
    assert json.loads(out)["state"] == "queued"


def test_a_running_job_cannot_be_cancelled_nor_a_queued_one_retried(where, capsys):
    (job_id,) = add_jobs(where, lambda conn, q: [q.enqueue(conn, "mail")])
    status, _, err = jobs(capsys, "retry", str(job_id), *where)
    assert (status, err) == (
        1,
        f"onebin: job {job_id} is queued: only a dead or cancelled job can be retried\n",
    )
    add_jobs(
        where,
        lambda conn, q: conn.execute("UPDATE onebin_jobs SET state = 'running'").rowcount,
    )
    status, _, err = jobs(capsys, "cancel", str(job_id), *where)
    assert (status, err) == (
        1,
        f"onebin: job {job_id} is running: only a queued job can be cancelled\n",
    )


@pytest.mark.parametrize("action", ["show", "retry", "cancel"])
def test_an_unknown_id_is_one_line_and_status_1(where, capsys, action):
    add_jobs(where, lambda conn, q: None)
    assert jobs(capsys, action, "999", *where) == (1, "", "onebin: no job 999\n")


def test_a_missing_data_dir_is_refused_not_created(tmp_path, capsys):
    status, _, err = jobs(capsys, "list", "--data-dir", str(tmp_path / "nowhere"))
    assert status == 1
    assert "no database" in err
    assert not (tmp_path / "nowhere").exists()


def test_a_bad_id_or_state_is_a_usage_error(capsys):
    for argv in (["show", "x"], ["list", "--state", "lost"]):
        with pytest.raises(SystemExit) as exit_:
            main(["jobs", *argv])
        assert exit_.value.code == 2
