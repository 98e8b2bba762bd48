"""The real ``onebin serve`` process: start, durability across SIGKILL, clean stop."""

from __future__ import annotations

import sqlite3

import httpx

from tests.support import ServerProcess, make_token


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
