from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from onebin.app import AppContext, build_app
from onebin.auth import FailureLimiter, FailurePolicy
from onebin.config import Settings
from onebin.items import spec
from onebin.store.tokens import TokenStore

POLICY = FailurePolicy(max_failures=3, window_seconds=60, max_tracked_clients=2)


def test_limiter_allows_until_max_failures_then_gives_retry_after():
    limiter = FailureLimiter(POLICY)
    for second in range(3):
        assert limiter.retry_after("a", now=100 + second) is None
        limiter.record_failure("a", now=100 + second)
    assert limiter.retry_after("a", now=103) == pytest.approx(57)
    assert limiter.retry_after("b", now=103) is None


def test_limiter_forgets_failures_after_the_window():
    limiter = FailureLimiter(POLICY)
    for _ in range(3):
        limiter.record_failure("a", now=0)
    assert limiter.retry_after("a", now=59) is not None
    assert limiter.retry_after("a", now=60.01) is None


def test_limiter_memory_is_bounded():
    limiter = FailureLimiter(POLICY)
    for key in ["a", "b", "c"]:
        for _ in range(3):
            limiter.record_failure(key, now=0)
    assert limiter.retry_after("a", now=1) is None  # evicted, least recently seen
    assert limiter.retry_after("c", now=1) is not None


def test_api_answers_429_with_retry_after_after_repeated_bad_tokens(client, token):
    bad = {"authorization": "Bearer ob_guess", "content-type": "application/json"}
    statuses = [
        client.post("/api/items", json={"name": "x"}, headers=bad).status_code for _ in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    limited = client.post(
        "/api/items", json={"name": "x"}, headers={**bad, "authorization": f"Bearer {token}"}
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "too_many_failed_attempts"
    assert client.get("/api/items").status_code == 200  # reads are never limited


def cors_client(db, data_dir, origins):
    settings = Settings(data_dir=data_dir, cors_origins=origins)
    return TestClient(build_app(AppContext(settings=settings, db=db, tokens=TokenStore(db)), spec))


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
