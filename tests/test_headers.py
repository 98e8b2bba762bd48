from __future__ import annotations

from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.testclient import TestClient

from onebin.app import App
from onebin.assets import SecurityHeaders
from onebin.compose import build_app
from onebin.headers import NOSNIFF, completed
from onebin.http import JsonResponse, resource
from tests.conftest import app_context

PAGE = [(b"content-security-policy", b"default-src 'self'"), (b"referrer-policy", b"no-referrer")]


def test_html_gets_the_page_headers_and_nosniff():
    headers = completed([(b"content-type", b"text/html; charset=utf-8")], PAGE)
    assert dict(headers) == {
        b"content-type": b"text/html; charset=utf-8",
        b"x-content-type-options": b"nosniff",
        **dict(PAGE),
    }


def test_a_header_the_route_set_is_kept():
    own = [(b"Content-Type", b"TEXT/HTML"), (b"Content-Security-Policy", b"mine")]
    headers = completed(own, PAGE)
    assert (b"Content-Security-Policy", b"mine") in headers
    assert (b"content-security-policy", b"default-src 'self'") not in headers
    assert (b"referrer-policy", b"no-referrer") in headers


def test_other_answers_get_nosniff_only_and_complete_ones_are_not_copied():
    assert completed([(b"content-type", b"text/plain")], PAGE) == [
        (b"content-type", b"text/plain"),
        NOSNIFF,
    ]
    full = [(b"content-type", b"application/json"), NOSNIFF]
    assert completed(full, PAGE) is full


async def page(request):
    return HTMLResponse("<style>p{color:red}</style><p>hi</p>")


async def text(request):
    return PlainTextResponse("hi")


async def json(request):
    return JsonResponse({"ok": True})


def test_an_apps_own_pages_carry_its_security_headers(settings, db):
    app = App(
        "pages",
        routes=lambda context: [
            resource("/page", {"GET": page}),
            resource("/text", {"GET": text}),
            resource("/json", {"GET": json}),
        ],
        headers=SecurityHeaders().allow("style-src", "'unsafe-inline'"),
    )
    client = TestClient(build_app(app_context(settings, db, app), app))
    html = client.get("/page")
    assert "style-src 'self' 'unsafe-inline'" in html.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in html.headers["content-security-policy"]
    assert html.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert html.headers["x-content-type-options"] == "nosniff"
    plain = client.get("/text")
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in plain.headers
    assert client.get("/json").headers["x-content-type-options"] == "nosniff"
