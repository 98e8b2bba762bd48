from __future__ import annotations

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from onebin.config import LETS_ENCRYPT_PRODUCTION
from onebin.tls.redirect import (
    HSTS,
    challenge_and_redirect_app,
    redirect_host,
    redirect_location,
    with_hsts,
)
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


@pytest.mark.parametrize("host", ["evil.example", "app.test", "[::1]:80", ""])
def test_redirect_location_without_names_is_none_whatever_the_host(host):
    assert redirect_location(host, "/", https_port=443, domains=()) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("a.app.test", "a.app.test"),
        ("A.App.Test.:80", "a.app.test"),  # case and the root's trailing dot
        ("app.test", "www.app.test"),  # a wildcard covers one label, not the bare name
        ("a.b.app.test", "www.app.test"),
        ("evil.example/.app.test", "www.app.test"),  # would move the host to evil.example
        ("x@evil.example.app.test", "www.app.test"),
        ("evil.example#.app.test", "www.app.test"),
        ("-a.app.test", "www.app.test"),
        ("[::1]", "www.app.test"),
    ],
)
def test_redirect_host_wildcard_admits_one_dns_label_only(host, expected):
    assert redirect_host(host, ("*.app.test", "www.app.test")) == expected


def test_redirect_host_never_falls_back_to_a_wildcard():
    assert redirect_host("evil.example", ("*.app.test",)) is None
    assert redirect_host("a.app.test", ("*.app.test",)) == "a.app.test"


@pytest.fixture
def http_client(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.put_challenge("token123", "token123.thumb")
    app = challenge_and_redirect_app(store, https_port=8443, domains=("app.test",))
    return TestClient(app, base_url="http://app.test", follow_redirects=False)


def error_code(response) -> str:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return body["error"]["code"]


def test_http_app_redirects_with_308_keeping_path_and_query(http_client):
    response = http_client.post("/api/items?x=%2F1", content=b"{}")
    assert response.status_code == 308
    assert response.headers["location"] == "https://app.test:8443/api/items?x=%2F1"
    assert error_code(response) == "https_required"


def test_http_app_answers_known_challenge_without_redirect(http_client):
    response = http_client.get("/.well-known/acme-challenge/token123")
    assert response.status_code == 200
    assert response.text == "token123.thumb"


def test_http_app_unknown_challenge_is_json_404_not_redirect(http_client):
    response = http_client.get("/.well-known/acme-challenge/nope")
    assert response.status_code == 404
    assert error_code(response) == "no_such_challenge"


def test_http_app_without_names_answers_json_421(tmp_path):
    app = challenge_and_redirect_app(None, https_port=443, domains=())
    client = TestClient(app, base_url="http://evil.example", follow_redirects=False)
    response = client.get("/")
    assert response.status_code == 421
    assert "location" not in response.headers
    assert error_code(response) == "no_https_name"
    assert error_code(client.get("/.well-known/acme-challenge/abc")) == "no_such_challenge"


def test_with_hsts_adds_header_to_every_response():
    client = TestClient(with_hsts(PlainTextResponse("hi")))
    assert client.get("/").headers["strict-transport-security"] == HSTS
