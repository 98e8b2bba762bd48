from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from onebin.auth import Authenticator
from onebin.compose import build_api, build_app, make_context, open_database
from onebin.config import Settings
from onebin.http import resource
from onebin.items import app as items_app
from onebin.limiter import SharedFailureLimiter
from onebin.server.worker import limiter_for
from onebin.store.tokens import TokenStore
from tests.conftest import app_context


def bad_posts(client: TestClient, count: int, address: str = "testclient") -> list[int]:
    bad = {"authorization": "Bearer ob_guess", "content-type": "application/json"}
    return [
        client.post("/api/items", json={"name": "x"}, headers=bad).status_code for _ in range(count)
    ]


def test_api_answers_429_with_retry_after_after_repeated_bad_tokens(client):
    assert bad_posts(client, 12) == [401] * 10 + [429, 429]
    limited = client.post(
        "/api/items", json={"name": "x"}, headers={"authorization": "Bearer ob_guess"}
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "too_many_failed_attempts"
    assert client.get("/api/items").status_code == 200  # reads are never limited


def test_a_valid_token_is_accepted_even_after_its_address_is_limited(client, token):
    """Someone behind the same NAT sending bad tokens must not lock the writers out."""
    assert bad_posts(client, 11)[-1] == 429
    response = client.post(
        "/api/items", json={"name": "still mine"}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    assert bad_posts(client, 1) == [429]  # and the bad one stays limited


def cors_client(db, data_dir, origins):
    settings = Settings(data_dir=data_dir, cors_origins=origins)
    return TestClient(build_app(app_context(settings, db), items_app))


def test_cors_is_off_by_default(client):
    response = client.get("/api/items", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/items",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_only_listed_origins(db, data_dir):
    client = cors_client(db, data_dir, ("https://app.example",))
    allowed = client.options(
        "/api/items",
        headers={"origin": "https://app.example", "access-control-request-method": "PATCH"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    other = client.get("/api/items", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_requests_without_a_token_are_refused_but_not_counted_as_guesses(client, token):
    no_token = [client.post("/api/items", json={"name": "x"}).status_code for _ in range(15)]
    assert no_token == [401] * 15
    assert bad_posts(client, 1) == [401]  # the address has no failed guess yet


def test_api_limits_bad_tokens_in_postgresql_across_replicas(data_dir, postgres_url):
    """With --database-url the counts live in the database: two replicas share them."""
    settings = Settings(data_dir=data_dir, database_url=postgres_url)
    first, second = open_database(settings, items_app), open_database(settings, items_app)
    try:
        clients = [
            TestClient(
                build_app(
                    make_context(settings, db, limiter_for(settings, db, None), app=items_app),
                    items_app,
                )
            )
            for db in (first, second)
        ]
        statuses = bad_posts(clients[0], 5) + bad_posts(clients[1], 5)
        assert statuses == [401] * 10
        assert bad_posts(clients[0], 1) == bad_posts(clients[1], 1) == [429]
    finally:
        first.close()
        second.close()


def admin_client(db) -> TestClient:
    """A route that answers the name of the request's admin token, or the refusal."""
    auth = Authenticator(TokenStore(db), SharedFailureLimiter(max_failures=3))

    async def whose(request: Request) -> JSONResponse:
        return JSONResponse({"name": (await auth.require_admin(request)).name})

    return TestClient(build_api([resource("/", {"GET": whose})]))


def test_only_an_admin_token_passes_require_admin(db):
    store = TokenStore(db)
    admin, _ = store.create("boss", admin=True)
    writer, _ = store.create("writer")
    client = admin_client(db)
    assert client.get("/", headers={"authorization": f"Bearer {admin}"}).json() == {"name": "boss"}
    refused = client.get("/", headers={"authorization": f"Bearer {writer}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_required"
    missing = client.get("/")
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("an admin token is required")
    # Guessing is limited as for write tokens; a real write token is not a guess.
    guesses = [
        client.get("/", headers={"authorization": "Bearer ob_guess"}).status_code for _ in range(4)
    ]
    assert guesses == [401, 401, 401, 429]
    assert client.get("/", headers={"authorization": f"Bearer {writer}"}).status_code == 403
