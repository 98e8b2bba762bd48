"""A real server on a disk that fills up, and on a file that gets damaged.

Health must tell the truth (``/readyz``), every answer must be JSON with its own
status, the log must say it once (not one traceback per request), and the server
must recover without a restart when the operator fixes the disk.
"""

from __future__ import annotations

import httpx

from tests.disks import fill, tmpfs
from tests.seed import seed_items
from tests.support import ServerProcess, make_token, wait_until

ITEMS = 1500


def post(server: ServerProcess, token: str, name: str, size: int = 0) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/items",
        json={"name": name, "description": "d" * size},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_a_full_disk_answers_507_says_not_ready_and_recovers(tmp_path):
    with tmpfs(tmp_path / "disk", "16m") as disk:
        data_dir = disk / "data"
        token = make_token(data_dir)
        args = ("--min-free-disk", "1MiB")
        with ServerProcess(data_dir, extra_args=args) as server:
            assert post(server, token, "before").status_code == 201
            assert httpx.get(f"{server.url}/readyz").status_code == 200
            filler = fill(disk, leave=32 * 1024)
            statuses = [post(server, token, f"full {n}", 9000).status_code for n in range(30)]
            assert 507 in statuses
            assert set(statuses) <= {201, 507}
            full = post(server, token, "still full", 9000)
            assert full.status_code == 507
            assert full.json()["error"]["code"] == "storage_full"
            assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive
            wait_until(
                lambda: httpx.get(f"{server.url}/readyz").status_code == 503, what="not ready"
            )
            ready = httpx.get(f"{server.url}/readyz").json()
            assert ready["checks"]["disk"] != "ok"
            filler.unlink()
            wait_until(lambda: post(server, token, "after").status_code == 201, what="recovery")
            wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, what="ready")
            log = server.log()
    assert "Traceback" not in log
    assert log.count("answered 507") == 1  # one line; the repeats are counted, not logged


def test_a_file_damaged_under_a_running_server_is_503_and_not_ready(tmp_path):
    data_dir = tmp_path / "data"
    seed_items(data_dir, ITEMS, describe=lambda i: f"{i} " * 500)
    database = data_dir / "onebin.sqlite3"
    with ServerProcess(data_dir) as server:
        size = database.stat().st_size
        with database.open("r+b") as file:
            file.seek(size // 3)
            file.write(b"\xba\xad\xf0\x0d" * (size // 12))
        with httpx.Client(base_url=server.url, timeout=10) as client:
            answers = [client.get(f"/api/items/{i}") for i in range(1, ITEMS + 1)]
        statuses = {answer.status_code for answer in answers}
        assert 503 in statuses
        assert statuses <= {200, 404, 503}
        damaged = next(answer for answer in answers if answer.status_code == 503)
        assert damaged.json()["error"]["code"] == "database_damaged"
        assert "onebin restore" in damaged.json()["error"]["message"]
        wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 503, what="not ready")
        assert "Traceback" not in server.log()
