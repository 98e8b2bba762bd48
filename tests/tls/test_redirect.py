from __future__ import annotations

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from onebin.config import LETS_ENCRYPT_PRODUCTION
from onebin.tls.redirect import HSTS, challenge_and_redirect_app, redirect_location, with_hsts
from onebin.tls.storage import CertificateStore


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("app.test", 443, "https://app.test/a?b=1"),
        ("app.test:8080", 8443, "https://app.test:8443/a?b=1"),
        ("WWW.App.Test", 443, "https://www.app.test/a?b=1"),
        ("evil.example", 443, "https://app.test/a?b=1"),
        ("", 443, "https://app.test/a?b=1"),
    ],
)
def test_redirect_location_stays_on_configured_domains(host, port, expected):
    domains = ("app.test", "www.app.test")
    assert redirect_location(host, "/a?b=1", https_port=port, domains=domains) == expected


def test_redirect_location_without_domains_uses_host():
    assert redirect_location("[::1]:80", "/", https_port=443, domains=()) == "https://[::1]/"
    assert redirect_location("", "/", https_port=443, domains=()) is None


@pytest.fixture
def http_client(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.put_challenge("token123", "token123.thumb")
    app = challenge_and_redirect_app(store, https_port=8443, domains=("app.test",))
    return TestClient(app, base_url="http://app.test", follow_redirects=False)


def test_http_app_redirects_with_308_keeping_path_and_query(http_client):
    response = http_client.post("/api/items?x=%2F1", content=b"{}")
    assert response.status_code == 308
    assert response.headers["location"] == "https://app.test:8443/api/items?x=%2F1"


def test_http_app_answers_known_challenge_without_redirect(http_client):
    response = http_client.get("/.well-known/acme-challenge/token123")
    assert response.status_code == 200
    assert response.text == "token123.thumb"


def test_http_app_unknown_challenge_is_404_not_redirect(http_client):
    assert http_client.get("/.well-known/acme-challenge/nope").status_code == 404


def test_with_hsts_adds_header_to_every_response():
    client = TestClient(with_hsts(PlainTextResponse("hi")))
    assert client.get("/").headers["strict-transport-security"] == HSTS
