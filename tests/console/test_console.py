"""The console's one ASGI callable: its paths, the page's files and headers, the API's guard."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from onebin import App, JsonResponse, resource
from onebin.compose import build_app
from onebin.console import in_console, page_scope
from onebin.errors import AppError
from onebin.items import app as items_app
from onebin.store.tokens import TokenStore
from tests.conftest import app_context


async def mine(request):
    return JsonResponse({"app": True})


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("/_onebin", True),
        ("/_onebin/", True),
        ("/_onebin/api/overview", True),
        ("/_onebinx", False),
        ("/_onebin.js", False),
        ("/api/_onebin/", False),
    ],
)
def test_in_console(path, inside):
    assert in_console(path) is inside


@pytest.mark.parametrize(
    ("path", "raw", "seen"),
    [
        ("/_onebin", b"/_onebin", ("/", b"/")),
        ("/_onebin/", b"/_onebin/", ("/", b"/")),
        ("/_onebin/console.js", b"/_onebin/console.js", ("/console.js", b"/console.js")),
        ("/_onebin/a%2fb", b"/_onebin/a%2fb", ("/a%2fb", b"/a%2fb")),  # left to the handler
        ("/_onebin/x.js", None, ("/x.js", None)),
    ],
)
def test_page_scope_takes_the_prefix_off_both_paths(path, raw, seen):
    scope = page_scope({"type": "http", "path": path, "raw_path": raw})
    assert scope is not None
    assert (scope["path"], scope["raw_path"]) == seen


def test_page_scope_refuses_an_escaped_prefix():
    assert page_scope({"path": "/_onebin/x", "raw_path": b"/%5Fonebin/x"}) is None


@pytest.fixture
def console(settings, db) -> TestClient:
    return TestClient(build_app(app_context(settings, db), items_app))


@pytest.mark.parametrize("path", ["/_onebin/", "/_onebin"])
def test_the_page_is_served_with_a_strict_policy(console, path):
    page = console.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/_onebin/nothing.js", "/_onebin/.hidden", "/_onebin/__init__.py"]
)
def test_what_is_not_a_page_file_is_a_json_404(console, path):
    missing = console.get(path)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_api_answers_json_not_found_and_is_never_cached(console, db):
    admin, _ = TokenStore(db).create("root", admin=True)
    answer = console.get("/_onebin/api/nothing", headers={"authorization": f"Bearer {admin}"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "route",
    [
        resource("/_onebin", {"GET": mine}),
        resource("/_onebin/api/overview", {"GET": mine}),
        resource("/{anything}", {"GET": mine}),
    ],
)
def test_an_app_cannot_shadow_the_console(settings, db, route):
    app = App("greedy", routes=lambda context: [route])
    with pytest.raises(AppError, match="/_onebin/, which onebin answers itself"):
        build_app(app_context(settings, db), app)
