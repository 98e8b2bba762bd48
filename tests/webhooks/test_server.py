"""Webhooks from real ``onebin serve`` processes to a real receiver: every change is
delivered signed, retried after failures, again after a kill, and dead after N."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support import ONEBIN, ServerProcess, wait_until
from tests.webhooks.receiver import Receiver


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request) -> dict[str, str]:
    """The server's and the commands' database, as the environment names it."""
    if request.param == "sqlite":
        return {}
    return {"ONEBIN_DATABASE_URL": request.getfixturevalue("postgres_url")}


def onebin(server: ServerProcess, *argv: str) -> Any:
    """A command's JSON output, run beside the server on its database."""
    result = subprocess.run(
        [*ONEBIN, *argv, "--json", "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def add_webhook(server: ServerProcess, url: str, *patterns: str) -> tuple[int, str]:
    events = [arg for pattern in patterns for arg in ("--events", pattern)]
    added = onebin(server, "webhook", "add", url, *events)
    return added["id"], added["secret"]


def webhook_jobs(server: ServerProcess, state: str) -> list[dict[str, Any]]:
    jobs = onebin(server, "jobs", "list", "--state", state)
    return [job for job in jobs if job["kind"] == "onebin.webhook"]


def test_every_change_is_delivered_signed_and_retried_after_failures(tmp_path, database_env):
    options = ("--job-retry-delay", "0.2")
    with (
        Receiver(fail_first=2) as flaky,
        Receiver() as deletions,
        ServerProcess(tmp_path / "data", extra_args=options, env=database_env) as server,
    ):
        client = httpx.Client(
            base_url=server.url, headers={"authorization": f"Bearer {server.token()}"}
        )
        with client:
            before = client.post("/api/items", json={"name": "Before"}).json()
            flaky_id, flaky_secret = add_webhook(server, flaky.url, "item.*")
            _, deletions_secret = add_webhook(server, deletions.url, "item.deleted")
            item = client.post("/api/items", json={"name": "Hammer"}).json()
            client.patch(f"/api/items/{item['id']}", json={"name": "Mallet"})
            assert client.delete(f"/api/items/{item['id']}").status_code == 204

        wait_until(lambda: len(flaky.accepted()) >= 3, timeout=30, what="3 deliveries")
        wait_until(lambda: len(deletions.accepted()) >= 1, what="the deletion's delivery")
        wait_until(lambda: len(webhook_jobs(server, "done")) == 4, what="4 jobs done")
        done = webhook_jobs(server, "done")
        log = server.log()

    accepted = sorted(flaky.accepted(), key=lambda r: r.event_id)  # retries reorder them
    assert [(r.event["type"], r.event["data"]) for r in accepted] == [
        ("item.created", {"id": item["id"], "version": 1}),
        ("item.updated", {"id": item["id"], "version": 2}),
        ("item.deleted", {"id": item["id"], "version": 2}),
    ]
    assert all(r.event["data"]["id"] != before["id"] for r in flaky.all())
    assert all(r.signed_by(flaky_secret) for r in flaky.all())
    assert all(r.headers["onebin-webhook-id"] == str(flaky_id) for r in flaky.all())
    assert all(r.headers["onebin-event-id"] == str(r.event["id"]) for r in flaky.all())
    tries = Counter(r.event_id for r in flaky.all())
    assert tries == {r.event_id: 3 for r in accepted}  # two 500s, then the 200
    assert [r.event["type"] for r in deletions.all()] == ["item.deleted"]
    assert deletions.all()[0].signed_by(deletions_secret)
    assert sorted(job["attempts"] for job in done) == [1, 3, 3, 3]
    assert flaky_secret not in log
    assert deletions_secret not in log


def test_a_delivery_cut_off_by_a_kill_arrives_after_a_restart(tmp_path, database_env):
    options = ("--job-lease", "2", "--job-retry-delay", "0.2")
    data = tmp_path / "data"
    with Receiver(hold_first=True) as receiver:
        with ServerProcess(data, extra_args=options, env=database_env) as server:
            _, secret = add_webhook(server, receiver.url)
            token = server.token()
            headers = {"authorization": f"Bearer {token}"}
            httpx.post(f"{server.url}/api/items", json={"name": "Anvil"}, headers=headers)
            wait_until(receiver.holding.is_set, what="the first delivery to arrive")
            server.kill()
        receiver.release.set()  # the held request ends with the sender gone
        with ServerProcess(data, extra_args=options, env=database_env) as server:
            wait_until(lambda: receiver.accepted(), timeout=30, what="the delivery again")
            wait_until(lambda: webhook_jobs(server, "done"), what="the job recorded done")
            (job,) = webhook_jobs(server, "done")
    requests = receiver.all()
    assert {r.event_id for r in requests} == {requests[0].event_id}  # one event, twice
    assert requests[0].status == 503
    assert requests[-1].status == 200
    assert len(receiver.accepted()) == 1
    assert all(r.signed_by(secret) for r in requests)
    assert job["attempts"] == 2


def test_a_delivery_that_keeps_failing_ends_dead_with_its_last_error(tmp_path, database_env):
    options = ("--job-retry-delay", "0.01")
    with (
        Receiver(always_fail=True) as receiver,
        ServerProcess(tmp_path / "data", extra_args=options, env=database_env) as server,
    ):
        _, secret = add_webhook(server, receiver.url + "?key=private", "item.created")
        headers = {"authorization": f"Bearer {server.token()}"}
        httpx.post(f"{server.url}/api/items", json={"name": "Vice"}, headers=headers)
        wait_until(lambda: webhook_jobs(server, "dead"), timeout=30, what="the job dead")
        (dead,) = webhook_jobs(server, "dead")
        listing = subprocess.run(
            [*ONEBIN, "jobs", "list", "--state", "dead", "--data-dir", str(server.data_dir)],
            env=server.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        log = server.log()
    assert (dead["attempts"], dead["max_attempts"]) == (8, 8)
    assert dead["last_error"] == f"DeliveryFailed: HTTP 500 from {receiver.url}"
    assert f"HTTP 500 from {receiver.url}" in listing
    assert len(receiver.all()) == 8
    assert "private" not in log + dead["last_error"]
    assert secret not in log
