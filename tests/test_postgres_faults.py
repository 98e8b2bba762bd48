"""PostgreSQL stopped under a serving process: the issue's promise, end to end.

Clients get a JSON 503 ``database_unavailable``, ``/readyz`` says not ready, the
process stays up, and when PostgreSQL returns the same process serves again, with
nothing it acknowledged lost.
"""

from __future__ import annotations

import threading
import time

from starlette.testclient import TestClient

from onebin import App, JsonResponse, Migration, resource
from onebin.compose import build_app, open_database
from onebin.config import Settings
from onebin.store.tokens import TokenStore
from tests.conftest import app_context
from tests.support import wait_until


def words_routes(context):
    async def listing(request):
        rows = await context.db.read(
            lambda c: c.execute("SELECT word FROM words ORDER BY id").fetchall()
        )
        return JsonResponse([row["word"] for row in rows])

    async def add(request):
        await context.require_token(request)
        word = request.query_params["word"]
        await context.db.write(lambda c: c.execute("INSERT INTO words (word) VALUES (%s)", (word,)))
        return JsonResponse(word, 201)

    return [resource("/words", {"GET": listing, "POST": add})]


WORDS = App(
    name="words",
    migrations=[
        Migration(
            "words",
            1,
            "words",
            "unused here",
            postgresql="CREATE TABLE words (id BIGSERIAL PRIMARY KEY, word TEXT NOT NULL)",
        )
    ],
    routes=words_routes,
)


def test_stopped_postgresql_is_503_json_and_not_ready_then_recovers(private_postgres, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=private_postgres.create_database())
    db = open_database(settings, WORDS)
    try:
        token, _ = TokenStore(db).create("t")
        auth = {"authorization": f"Bearer {token}"}
        client = TestClient(build_app(app_context(settings, db, WORDS), WORDS))
        assert client.post("/words?word=one", headers=auth).status_code == 201
        assert client.get("/readyz").status_code == 200

        private_postgres.stop()
        listing = client.get("/words")
        assert listing.status_code == 503
        assert listing.json()["error"]["code"] == "database_unavailable"
        assert listing.headers["retry-after"] == "5"
        started = time.monotonic()
        write = client.post("/words?word=lost", headers=auth)
        assert write.status_code == 503
        assert write.json()["error"]["code"] == "database_unavailable"
        assert time.monotonic() - started < 2
        wait_until(lambda: client.get("/readyz").status_code == 503, what="not ready")
        report = client.get("/readyz").json()
        assert report["error"]["code"] == "not_ready"
        assert report["checks"]["database_read"] != "ok"
        assert report["checks"]["database_write"] != "ok"
        assert client.get("/healthz").status_code == 200  # alive: nothing to restart

        private_postgres.start()
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=20, what="ready")
        assert client.post("/words?word=two", headers=auth).status_code == 201
        assert client.get("/words").json() == ["one", "two"]
    finally:
        db.close()


def test_no_acknowledged_write_is_lost_when_postgresql_stops_under_load(private_postgres, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=private_postgres.create_database())
    db = open_database(settings, WORDS)
    acknowledged: list[str] = []
    answers: set[int] = set()
    stop = threading.Event()
    try:
        token, _ = TokenStore(db).create("t")
        auth = {"authorization": f"Bearer {token}"}
        client = TestClient(build_app(app_context(settings, db, WORDS), WORDS))

        def writer(number: int) -> None:
            serial = 0
            while not stop.is_set():
                word = f"{number}-{serial}"
                serial += 1
                response = client.post(f"/words?word={word}", headers=auth)
                answers.add(response.status_code)
                if response.status_code == 201:
                    acknowledged.append(word)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        private_postgres.stop("immediate")  # a crash: no checkpoint
        time.sleep(0.5)
        private_postgres.start()
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=20, what="ready")
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        stored = set(client.get("/words").json())
    finally:
        stop.set()
        db.close()
    assert answers <= {201, 503}
    assert 503 in answers
    assert len(acknowledged) > 20
    assert set(acknowledged) <= stored
