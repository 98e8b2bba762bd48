"""The console API against a real ``onebin serve --workers 2``: what an operator does with it."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onebin.cli import database
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.jobs.queue import JobQueue
from tests.console.conftest import Console, admin_token
from tests.server.processes import wait_for_workers
from tests.support import ONEBIN, ServerProcess, wait_until

# Every endpoint, with what a request to it needs to get past the token check.
ENDPOINTS = [
    ("GET", "overview"),
    ("GET", "tokens"),
    ("POST", "tokens"),
    ("DELETE", "tokens/someone"),
    ("GET", "backups"),
    ("POST", "backups"),
    ("GET", "backups/onebin-20260101T000000Z.sqlite3"),
    ("GET", "jobs"),
    ("POST", "jobs/1/retry"),
    ("GET", "webhooks"),
    ("GET", "requests"),
]


def call(console: Console, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(
        method,
        f"{console.server.url}/_onebin/api/{path}",
        headers=headers,
        json={"name": "x"} if method == "POST" else None,
    )


def test_an_admin_token_sees_every_section(console):
    overview = console.get("overview")
    assert overview.status_code == 200
    assert overview.headers["cache-control"] == "no-store"
    facts = overview.json()
    assert set(facts) == {
        "versions",
        "process",
        "health",
        "database",
        "certificates",
        "jobs",
        "tokens",
        "webhooks",
        "backups",
        "search",
    }
    assert facts["versions"]["app"]["name"] == "items"
    assert facts["process"]["pid"] == console.server.process.pid  # the supervisor
    assert facts["process"]["workers"] == 2
    assert facts["process"]["uptime_seconds"] > 0
    assert facts["health"]["status"] == "ready"
    assert facts["database"]["engine"] == "sqlite"
    assert facts["database"]["size_bytes"] > 0
    assert facts["backups"]["supported"] is True
    for path, key in [
        ("tokens", "tokens"),
        ("backups", "backups"),
        ("jobs", "jobs"),
        ("webhooks", "webhooks"),
        ("requests", "requests"),
    ]:
        answer = console.get(path)
        assert answer.status_code == 200, path
        assert isinstance(answer.json()[key], list)
    names = {(token["name"], token["admin"]) for token in console.get("tokens").json()["tokens"]}
    assert ("admin", True) in names


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_write_token_is_refused_on_every_endpoint(console, writer, method, path):
    refused = call(console, method, path, {"authorization": f"Bearer {writer}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_required"
    assert refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_is_unauthorized(console, method, path):
    refused = call(console, method, path, {})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


def test_a_bad_token_is_unauthorized_and_counted_as_a_guess(console):
    # One only: the failed-token limiter answers 429 after a few from one address.
    refused = console.get("overview", token="ob_not-a-real-token")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


def test_tokens_created_and_revoked_from_the_console(console, server):
    made = console.post("tokens", json={"name": "deploy-bot"})
    assert made.status_code == 201
    body = made.json()
    assert (body["name"], body["admin"]) == ("deploy-bot", False)
    secret = body["token"]
    assert secret.startswith("ob_")
    # The new token writes through the app's API, and is not an admin token.
    item = {"name": "made by the bot"}
    headers = {"authorization": f"Bearer {secret}"}
    assert httpx.post(f"{server.url}/api/items", json=item, headers=headers).status_code == 201
    assert console.get("overview", token=secret).status_code == 403
    listed = {t["name"]: t for t in console.get("tokens").json()["tokens"]}
    assert listed["deploy-bot"]["admin"] is False
    assert listed["deploy-bot"]["revoked_at"] is None

    assert console.post("tokens", json={"name": "deploy-bot"}).status_code == 409
    for bad in ({"name": ""}, {"name": " padded "}, {"name": "x" * 65}, {"admin": True}):
        answer = console.post("tokens", json=bad)
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["code"] == "validation_error"

    revoked = console.delete("tokens/deploy-bot")
    assert revoked.status_code == 200
    assert revoked.json()["name"] == "deploy-bot"
    assert revoked.json()["revoked_at"]
    assert httpx.post(f"{server.url}/api/items", json=item, headers=headers).status_code == 401
    assert console.delete("tokens/deploy-bot").status_code == 404


def test_an_admin_token_made_in_the_console_opens_it(console):
    made = console.post("tokens", json={"name": "second admin", "admin": True}).json()
    assert made["admin"] is True
    assert console.get("overview", token=made["token"]).status_code == 200
    assert console.delete("tokens/second%20admin").status_code == 200
    assert console.get("overview", token=made["token"]).status_code == 401


def test_a_backup_run_from_the_console_downloads_and_restores(console, server, writer, tmp_path):
    marker = {"name": "kept by the backup"}
    headers = {"authorization": f"Bearer {writer}"}
    assert httpx.post(f"{server.url}/api/items", json=marker, headers=headers).status_code == 201

    taken = console.post("backups")
    assert taken.status_code == 201
    backup = taken.json()
    assert backup["name"] in {b["name"] for b in console.get("backups").json()["backups"]}
    on_disk = server.data_dir / "backups" / backup["name"]
    assert backup["size_bytes"] == on_disk.stat().st_size

    download = console.get(f"backups/{backup['name']}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["cache-control"] == "no-store"
    assert download.content == on_disk.read_bytes()

    copy = tmp_path / "downloaded.sqlite3"
    copy.write_bytes(download.content)
    restored = tmp_path / "restored"
    for command in (["restore", str(copy)], ["check"]):
        done = subprocess.run(
            [*ONEBIN, *command, "--data-dir", str(restored)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    with contextlib.closing(sqlite3.connect(restored / "onebin.sqlite3")) as conn:
        names = {name for (name,) in conn.execute("SELECT name FROM items")}
    assert "kept by the backup" in names


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fonebin.sqlite3",
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "onebin.sqlite3",
        "owner.lock",
        "onebin-20260101T000000Z.sqlite3",  # the right form, but no such backup
        "onebin-20260101T000000Z.sqlite3.partial",
    ],
)
def test_backup_names_never_reach_outside_the_backups(console, server, name):
    backups = server.data_dir / "backups"
    backups.mkdir(exist_ok=True)
    # Files that are there but are no backups: only a backup's name is ever served.
    (backups / "owner.lock").write_bytes(b"")
    (backups / "onebin-20260101T000000Z.sqlite3.partial").write_bytes(b"half")
    answer = console.get(f"backups/{name}")
    assert answer.status_code in (400, 404)
    assert answer.json()["error"]["code"] in ("not_found", "invalid_path")


def enqueue(data_dir: Path, kind: str, **options: object) -> int:
    """A job put in the queue from beside the server, as an app's write would."""
    with database(Settings(data_dir=data_dir), items_app, existing=True) as db:
        jobs = JobQueue(db)
        job_id = db.write_sync(lambda conn: jobs.enqueue(conn, kind, **options))
    assert job_id is not None
    return job_id


def test_a_dead_job_is_listed_with_its_error_and_retried(console, server):
    job_id = enqueue(server.data_dir, "console-test.no-handler", max_attempts=1)

    def dead() -> list[dict]:
        return [j for j in console.get("jobs?state=dead").json()["jobs"] if j["id"] == job_id]

    wait_until(lambda: dead(), what="the job without a handler to die")
    [job] = dead()
    assert job["kind"] == "console-test.no-handler"
    assert (job["attempts"], job["max_attempts"]) == (1, 1)
    assert "no handler for job kind 'console-test.no-handler'" in job["last_error"]

    retried = console.post(f"jobs/{job_id}/retry")
    assert retried.status_code == 200
    assert retried.json()["id"] == job_id
    assert retried.json()["state"] == "queued"
    assert retried.json()["attempts"] == 0


def test_only_a_dead_or_cancelled_job_is_retried(console, server):
    later = enqueue(server.data_dir, "console-test.later", delay=3600)
    refused = console.post(f"jobs/{later}/retry")
    assert refused.status_code == 409
    assert "only a dead or cancelled job can be retried" in refused.json()["error"]["message"]
    assert console.post("jobs/999999999/retry").status_code == 404
    assert console.post("jobs/not-a-number/retry").status_code == 404
    for query in ("state=sleeping", "limit=0", "limit=501", "limit=ten"):
        answer = console.get(f"jobs?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["error"]["code"] == "invalid_query"
    assert len(console.get("jobs?limit=1").json()["jobs"]) == 1


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """``pid`` frozen (SIGSTOP) until the block ends: it accepts no connection meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: _state(pid) == "T", what=f"worker {pid} to stop")
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_recent_requests_come_from_both_workers(console, server):
    first, second = sorted(wait_for_workers(server, 2))
    sent: dict[int, set[str]] = {}
    for answering, frozen in ((first, second), (second, first)):
        with stopped(frozen):  # every request now reaches ``answering``
            ids = {f"w{answering}-{n}" for n in range(3)}
            for rid in ids:
                answer = httpx.get(
                    f"{server.url}/healthz?secret=hunter2", headers={"x-request-id": rid}
                )
                assert answer.status_code == 200
            sent[answering] = ids

    listed = console.get("requests?limit=200").json()["requests"]
    seen = {entry["request_id"]: entry for entry in listed}
    for ids in sent.values():
        assert ids <= set(seen)
    entry = seen[next(iter(sent[first]))]
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/healthz", 200)
    assert entry["client"] == "127.0.0.1"
    assert entry["bytes"] > 0
    assert entry["duration_ms"] > 0
    assert "hunter2" not in str(listed)  # never the query string
    times = [entry["time"] for entry in listed]
    assert times == sorted(times, reverse=True)
    assert len(console.get("requests?limit=2").json()["requests"]) == 2
    assert console.get("requests?limit=201").status_code == 400


def test_the_page_is_served_at_the_prefix(server):
    for path in ("/_onebin/", "/_onebin"):
        page = httpx.get(server.url + path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_on_postgresql_the_overview_and_no_backups(tmp_path, postgres_url):
    data_dir = tmp_path / "data"
    url = ("--database-url", postgres_url)
    with ServerProcess(data_dir, extra_args=url) as running:
        console = Console(running, admin_token(data_dir, extra=url))
        facts = console.get("overview").json()
        assert facts["database"]["engine"] == "postgresql"
        assert facts["database"]["size_bytes"] > 0
        assert facts["database"]["wal_bytes"] is None
        assert facts["health"]["status"] == "ready"
        assert facts["backups"] == {
            "supported": False,
            "every_seconds": None,
            "count": 0,
            "last": None,
        }
        assert console.get("backups").json() == {"supported": False, "backups": []}
        refused = console.post("backups")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "backups_unsupported"
        assert "pg_dump" in refused.json()["error"]["message"]
