"""Event streams against real server processes: every change reaches every subscriber,
in order, across workers and replicas; a reconnect resumes without loss; a client
that stops reading is dropped; a shutdown does not wait for open streams."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.events.sse import Subscription
from tests.load import rss_kib
from tests.support import ServerProcess, wait_until


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request) -> dict[str, str]:
    """The server's and its token command's database, as the environment names it."""
    if request.param == "sqlite":
        return {}
    return {"ONEBIN_DATABASE_URL": request.getfixturevalue("postgres_url")}


def changes(url: str, token: str, count: int) -> list[int]:
    """``count`` new items, each on a new connection (spread over workers); their ids."""
    headers = {"authorization": f"Bearer {token}"}
    ids = []
    for n in range(count):
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            response = client.post("/api/items", json={"name": f"thing {n}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def test_every_change_to_an_item_reaches_a_subscriber_in_order(tmp_path, database_env):
    with ServerProcess(tmp_path / "data", env=database_env) as server:
        token = server.token()
        auth = {"authorization": f"Bearer {token}"}
        with Subscription(server.url) as live, httpx.Client(base_url=server.url) as client:
            item = client.post("/api/items", json={"name": "Hammer"}, headers=auth).json()
            client.patch(f"/api/items/{item['id']}", json={"name": "Mallet"}, headers=auth)
            deleted = client.delete(f"/api/items/{item['id']}", headers=auth)
            assert deleted.status_code == 204
            events = live.wait_for(3)
    assert [(e["type"], e["data"]) for e in events] == [
        ("item.created", {"id": item["id"], "version": 1}),
        ("item.updated", {"id": item["id"], "version": 2}),
        ("item.deleted", {"id": item["id"], "version": 2}),
    ]
    assert events[0]["id"] < events[1]["id"] < events[2]["id"]


def test_a_reconnect_with_last_event_id_resumes_without_loss_or_repeat(tmp_path, database_env):
    with ServerProcess(tmp_path / "data", env=database_env) as server:
        token = server.token()
        with Subscription(server.url) as first:
            changes(server.url, token, 2)
            seen = first.wait_for(2)
        changes(server.url, token, 3)  # while nobody listens
        with Subscription(server.url, last_id=seen[-1]["id"]) as resumed:
            missed = resumed.wait_for(3)
            changes(server.url, token, 1)
            resumed.wait_for(4)
        with Subscription(server.url) as fresh:
            changes(server.url, token, 1)
            fresh.wait_for(1)
    ids = [e["id"] for e in seen] + resumed.ids
    assert ids == sorted(set(ids))
    assert len(ids) == 6
    assert [e["type"] for e in missed] == ["item.created"] * 3
    assert len(fresh.events) == 1, "a stream without Last-Event-ID starts now"


def test_an_id_this_log_never_had_gets_a_reset_first(tmp_path):
    with (
        ServerProcess(tmp_path / "data") as server,
        Subscription(server.url, last_id=10**9) as stream,
    ):
        changes(server.url, server.token(), 1)
        events = stream.wait_for(2)
    assert events[0]["type"] == "events.reset"
    assert events[1]["type"] == "item.created"


def test_a_malformed_last_event_id_is_a_json_400(tmp_path):
    with ServerProcess(tmp_path / "data") as server:
        response = httpx.get(f"{server.url}/api/events", headers={"last-event-id": "x"})
        posted = httpx.post(f"{server.url}/api/events")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_last_event_id"
    assert posted.status_code == 405


def test_every_worker_delivers_every_event(tmp_path):
    """Subscribers on different workers, changes made through either: each subscriber
    gets all of them (a worker hears other processes' commits by polling the log)."""
    with ServerProcess(tmp_path / "data", extra_args=("--workers", "2")) as server:
        token = server.token()
        streams = [Subscription(server.url) for _ in range(6)]  # new connections: both workers
        for stream in streams:
            stream.__enter__()
        try:
            made = changes(server.url, token, 20)
            for stream in streams:
                stream.wait_for(20)
        finally:
            for stream in streams:
                stream.close()
    for stream in streams:
        assert [e["data"]["id"] for e in stream.events] == made
        assert stream.ids == sorted(set(stream.ids))


def test_replicas_on_postgresql_deliver_every_event_in_commit_order(tmp_path, postgres_url):
    env = {"ONEBIN_DATABASE_URL": postgres_url}
    with (
        ServerProcess(tmp_path / "a" / "data", env=env) as one,
        ServerProcess(tmp_path / "b" / "data", env=env) as two,
    ):
        token = one.token()
        with Subscription(one.url) as on_one, Subscription(two.url) as on_two:
            with ThreadPoolExecutor(8) as pool:
                made = pool.map(lambda n: changes((one, two)[n % 2].url, token, 10), range(8))
                made_ids = sorted(i for ids in made for i in ids)
            on_one.wait_for(80)
            on_two.wait_for(80)
    for stream in (on_one, on_two):
        assert stream.ids == sorted(set(stream.ids)), "ids out of commit order or repeated"
        assert sorted(e["data"]["id"] for e in stream.events) == made_ids


TCP_ESTABLISHED = 1


def tcp_state(sock: socket.socket) -> int:
    """The socket's TCP state (``struct tcp_info``'s first byte): 1 while established."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_client_that_stops_reading_is_dropped_and_others_get_everything(tmp_path):
    """A burst far bigger than a subscriber's queue: a reading client catches up from the
    log and misses nothing; one that reads nothing is disconnected, memory bounded."""
    with ServerProcess(tmp_path / "data") as server:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        with Subscription(server.url) as reader:
            before = rss_kib(server.process.pid)
            # 4,000 events of 4 KB: far more than socket buffers and a subscriber's queue hold.
            db = sqlite3.connect(tmp_path / "data" / "onebin.sqlite3")
            big = json.dumps({"pad": "x" * 4000})
            for _batch in range(8):
                with db:
                    db.executemany(
                        "INSERT INTO onebin_events (type, data, time, created) "
                        "VALUES ('test.big', ?, '2026-01-01T00:00:00.000Z', ?)",
                        [(big, time.time())] * 500,
                    )
            db.close()
            reader.wait_for(4000, timeout=60)
            grown = rss_kib(server.process.pid) - before
            # The server hangs up on the client that read nothing, SEND_TIMEOUT after its
            # socket buffers filled; reading here would make it a reader again.
            wait_until(
                lambda: tcp_state(stalled) != TCP_ESTABLISHED,
                timeout=60,
                what="the server to drop the client that stopped reading",
            )
        stalled.close()
    assert [e["id"] for e in reader.events] == sorted(set(e["id"] for e in reader.events))
    assert grown < 64 * 1024, f"memory grew by {grown} KiB for one stalled client"


def test_sigterm_ends_open_streams_instead_of_waiting_for_them(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=("--graceful-timeout", "60")).start()
    try:
        with Subscription(server.url) as stream:
            started = time.monotonic()
            assert server.terminate(timeout=30) == 0
            assert time.monotonic() - started < 30, "the shutdown waited for the open stream"
            assert stream.ended.wait(10)
    finally:
        server.stop()


def test_an_idle_stream_gets_a_heartbeat(tmp_path):
    with ServerProcess(tmp_path / "data") as server, Subscription(server.url) as stream:
        wait_until(lambda: stream.comments, timeout=20, what="a heartbeat comment")
    assert stream.comments[0] == ": heartbeat"
    assert not stream.events


def test_a_stream_ends_cleanly_when_its_client_goes(tmp_path):
    """Client gone: the server notices (disconnect), frees the subscriber, logs nothing."""
    with ServerProcess(tmp_path / "data") as server:
        for _ in range(20):
            with Subscription(server.url):
                pass
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        changes(server.url, server.token(), 1)
        with Subscription(server.url, last_id=0) as stream:
            stream.wait_for(1)
    assert "Traceback" not in server.log()
    assert "ERROR" not in server.log()
