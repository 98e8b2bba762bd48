from __future__ import annotations

import sys

import pytest
from starlette.requests import Request
from starlette.routing import Mount, WebSocketRoute
from starlette.testclient import TestClient

from onebin.app import App
from onebin.assets import Static
from onebin.compose import (
    RESERVED_PREFIXES,
    answer_json,
    build_api,
    build_app,
    claims,
    reserved_claims,
    without_slash_redirects,
)
from onebin.errors import AppError
from onebin.http import JsonResponse, resource
from tests.conftest import app_context


async def broken(request: Request) -> JsonResponse:
    raise RuntimeError("secret internal detail")


async def fine(request: Request) -> JsonResponse:
    return JsonResponse({"ok": True})


def api_client() -> TestClient:
    api = answer_json(
        build_api(
            [
                resource("/api/broken", {"GET": broken}),
                resource("/api/fine", {"GET": fine, "POST": fine}),
            ]
        )
    )
    return TestClient(api, raise_server_exceptions=False)


def test_unhandled_error_is_json_500_without_details():
    response = api_client().get("/api/broken")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


def test_405_is_json_and_allow_lists_every_method_of_the_path():
    response = api_client().delete("/api/fine")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_head_is_answered_like_get_without_body():
    response = api_client().head("/api/fine")
    assert response.status_code == 200
    assert response.content == b""


def test_claims_of_mounts_routes_and_parameters():
    claimed = claims(
        [
            Mount("/api", routes=[resource("/x", {"GET": fine})]),
            resource("/guestbook", {"GET": fine}),
            resource("/entries/{entry_id}/likes", {"GET": fine}),
        ]
    )
    assert "/api" in claimed
    assert "/api/anything/below" in claimed
    assert "/guestbook" in claimed
    assert "/guestbook/more" not in claimed
    assert "/entries/7/likes" in claimed
    assert "/entries/" in claimed
    assert "/entries" not in claimed
    assert "/" not in claimed
    assert "/apix" not in claimed


@pytest.mark.parametrize(
    ("route", "taken"),
    [
        (resource("/healthz", {"GET": fine}), ["/healthz"]),
        (resource("/{slug}", {"GET": fine}), ["/healthz", "/readyz", *RESERVED_PREFIXES]),
        (Mount("/.well-known", routes=[]), ["/.well-known/acme-challenge/"]),
        (resource("/_onebin/console", {"GET": fine}), ["/_onebin/"]),
        (Mount("/", routes=[]), ["/healthz", "/readyz", *RESERVED_PREFIXES]),
    ],
)
def test_reserved_claims_name_what_an_app_would_shadow(route, taken):
    assert reserved_claims(claims([route])) == taken


@pytest.mark.parametrize(
    "route",
    [resource("/healthzz", {"GET": fine}), resource("/.well-known/security.txt", {"GET": fine})],
)
def test_neighbours_of_reserved_paths_are_the_apps(route):
    assert reserved_claims(claims([route])) == []


def test_other_route_types_are_refused():
    with pytest.raises(AppError, match="WebSocketRoute"):
        claims([WebSocketRoute("/ws", fine)])


def test_an_app_claiming_healthz_is_refused_at_start(settings, db):
    app = App("greedy", routes=lambda context: [resource("/healthz", {"GET": fine})])
    with pytest.raises(AppError, match="claim /healthz, which onebin answers itself"):
        build_app(app_context(settings, db), app)


def test_dispatch_sends_claimed_paths_to_routes_and_the_rest_to_static(settings, db, tmp_path):
    site = tmp_path / "site_for_dispatch"
    (site / "docs").mkdir(parents=True)
    (site / "__init__.py").write_text("")
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "docs" / "index.html").write_text("<h1>docs</h1>")
    (site / "404.html").write_text("<h1>lost</h1>")
    sys.path.insert(0, str(tmp_path))
    try:
        app = App(
            "plain",
            routes=lambda context: [resource("/hello", {"GET": fine})],
            static=Static("site_for_dispatch"),
        )
        client = TestClient(build_app(app_context(settings, db), app))
        assert client.get("/hello").json() == {"ok": True}
        assert client.get("/").text == "<h1>home</h1>"
        assert client.get("/docs/").text == "<h1>docs</h1>"
        assert client.get("/healthz").json() == {"status": "ok"}
        lost = client.get("/no/such/page")  # no SPA fallback: the site's 404 page
        assert lost.status_code == 404
        assert lost.text == "<h1>lost</h1>"
        assert "content-security-policy" in lost.headers
        missing = client.get("/missing.js")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
    finally:
        sys.path.remove(str(tmp_path))


def test_mounted_routers_never_redirect_to_the_host_header():
    inner = Mount("/v1", routes=[resource("/x", {"GET": fine})])
    outer = Mount("/api", routes=[inner])
    without_slash_redirects([outer])
    client = TestClient(build_api([outer]), base_url="http://evil.example")
    response = client.get("/api/v1/x/", follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("made", [None, 42, "/hello"])
def test_routes_must_return_routes(settings, db, made):
    app = App("odd", routes=lambda context: made)
    with pytest.raises(AppError, match="routes\\(\\) must return a list of routes"):
        build_app(app_context(settings, db), app)
