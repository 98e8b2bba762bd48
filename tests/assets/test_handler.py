from __future__ import annotations

import gzip
import json
import logging

import pytest

from onebin.app import App
from onebin.assets import SecurityHeaders, Static
from onebin.assets.caching import IMMUTABLE
from onebin.assets.handler import AssetsApp, assets_app
from onebin.compose import build_app
from onebin.errors import AppError
from onebin.items import app as items_app
from tests.assets.conftest import JS, JS_BR, SHELL_HTML, call_asgi, write_package
from tests.conftest import app_context

JS_PATH = "/_app/immutable/entry/a1.js"


@pytest.fixture
def app(site):
    return AssetsApp(site, shell="/index.html")


def test_handler_serves_br_when_accepted_with_its_headers(app):
    reply = call_asgi(app, JS_PATH, headers=[("Accept-Encoding", "br, gzip")])
    assert reply.status == 200
    assert reply.body == JS_BR
    assert reply.headers["content-encoding"] == "br"
    assert reply.headers["content-length"] == str(len(JS_BR))
    assert reply.headers["vary"] == "accept-encoding"
    assert reply.headers["cache-control"] == IMMUTABLE
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_handler_serves_gzip_when_br_is_refused(app):
    reply = call_asgi(app, JS_PATH, headers=[("Accept-Encoding", "br;q=0, gzip")])
    assert reply.headers["content-encoding"] == "gzip"
    assert gzip.decompress(reply.body) == JS


def test_handler_joins_repeated_accept_encoding_lines(app):
    reply = call_asgi(
        app, JS_PATH, headers=[("Accept-Encoding", "identity;q=0.1"), ("Accept-Encoding", "gzip")]
    )
    assert reply.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize("header", [None, "identity", "deflate", "*;q=0"])
def test_handler_serves_identity_when_nothing_better_is_acceptable(app, header):
    headers = [] if header is None else [("Accept-Encoding", header)]
    reply = call_asgi(app, JS_PATH, headers=headers)
    assert reply.body == JS
    assert "content-encoding" not in reply.headers
    assert reply.headers["content-length"] == str(len(JS))
    assert reply.headers["vary"] == "accept-encoding"


def test_handler_serves_identity_for_files_the_build_did_not_compress(app):
    reply = call_asgi(app, "/robots.txt", headers=[("Accept-Encoding", "br, gzip")])
    assert reply.status == 200
    assert reply.body == b"User-agent: *\n"
    assert "content-encoding" not in reply.headers
    assert "vary" not in reply.headers
    partial = call_asgi(
        app, "/_app/immutable/chunks/only-gzip.js", headers=[("Accept-Encoding", "br")]
    )
    assert partial.body == b"let x = 1;"
    assert "content-encoding" not in partial.headers


def test_handler_answers_304_without_body_for_a_matching_etag(app):
    first = call_asgi(app, JS_PATH, headers=[("Accept-Encoding", "br")])
    again = call_asgi(
        app,
        JS_PATH,
        headers=[("Accept-Encoding", "br"), ("If-None-Match", f'"other", {first.headers["etag"]}')],
    )
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == IMMUTABLE
    assert "content-length" not in again.headers


def test_handler_etag_of_one_variant_does_not_validate_another(app):
    br = call_asgi(app, JS_PATH, headers=[("Accept-Encoding", "br")])
    gz = call_asgi(
        app,
        JS_PATH,
        headers=[("Accept-Encoding", "gzip"), ("If-None-Match", br.headers["etag"])],
    )
    assert gz.status == 200
    assert gz.headers["etag"] != br.headers["etag"]


def test_handler_star_if_none_match_answers_304(app):
    assert call_asgi(app, JS_PATH, headers=[("If-None-Match", "*")]).status == 304


def test_handler_head_sends_headers_only(app):
    get = call_asgi(app, JS_PATH, headers=[("Accept-Encoding", "br")])
    head = call_asgi(app, JS_PATH, method="HEAD", headers=[("Accept-Encoding", "br")])
    assert head.status == 200
    assert head.body == b""
    assert head.headers == get.headers


def test_handler_uses_no_cache_for_the_unhashed_shell(app):
    reply = call_asgi(app, "/index.html")
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.body == SHELL_HTML


@pytest.mark.parametrize("path", ["/", "/items/42", "/items/42/edit"])
def test_handler_falls_back_to_the_shell_for_navigations(app, path):
    reply = call_asgi(app, path, headers=[("Accept-Encoding", "gzip")])
    assert reply.status == 200
    assert gzip.decompress(reply.body) == SHELL_HTML
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self' 'sha256-" in reply.headers["content-security-policy"]
    assert reply.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_handler_head_navigation_gets_the_shell_headers(app):
    reply = call_asgi(app, "/items/42", method="HEAD")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers["content-length"] == str(len(SHELL_HTML))


@pytest.mark.parametrize("path", ["/_app/x.js", "/_app/immutable/entry/missing.js", "/x/y.css"])
def test_handler_answers_404_for_missing_files(app, path):
    reply = call_asgi(app, path)
    assert reply.status == 404
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert b"<html" not in reply.body


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/../index.html", b"/../index.html"),
        ("/_app/../index.html", b"/_app/%2e%2e/index.html"),
        ("/_app/immutable/entry/a1.js", b"/_app%2fimmutable/entry/a1.js"),
        ("/_app/immutable/entry/a1.js", b"/_app%2Fimmutable%2Fentry%2Fa1.js"),
        ("/items/\x00", b"/items/%00"),
        ("/items\\..\\index.html", b"/items%5c..%5cindex.html"),
        ("/.hidden", b"/.hidden"),
        ("/../../etc/passwd", b"/../../etc/passwd"),
        ("/helper.py", b"/helper.py"),
        ("/__pycache__/helper.cpython-311.pyc", b"/__pycache__/helper.cpython-311.pyc"),
    ],
)
def test_handler_never_serves_outside_the_index(app, path, raw_path):
    reply = call_asgi(app, path, raw_path=raw_path)
    assert reply.status == 404
    assert json.loads(reply.body)["error"]["code"] == "not_found"


def test_handler_refuses_other_methods(app):
    reply = call_asgi(app, JS_PATH, method="POST")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"


def test_handler_without_a_shell_answers_404_to_navigations(site):
    without_shell = {path: asset for path, asset in site.items() if path != "/index.html"}
    assert call_asgi(AssetsApp(without_shell, shell="/index.html"), "/items/42").status == 404


def test_assets_app_serves_a_package(site_package):
    app = assets_app(Static(site_package), SecurityHeaders())
    assert app is not None
    assert call_asgi(app, JS_PATH, headers=[("Accept-Encoding", "br")]).body == JS_BR


def test_assets_app_refuses_a_package_that_is_not_there():
    with pytest.raises(AppError, match="static package 'onebin_no_such_package' is not importable"):
        assets_app(Static("onebin_no_such_package"), SecurityHeaders())


def test_assets_app_is_none_with_a_warning_when_nothing_was_built(tmp_path, monkeypatch, caplog):
    name = write_package(tmp_path, {"__init__.py": b""})
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="onebin.assets"):
        assert assets_app(Static(name), SecurityHeaders()) is None
    assert "no files in package" in caplog.text


def test_assets_app_is_none_without_static_files():
    assert assets_app(None, SecurityHeaders()) is None


def test_build_app_keeps_api_404s_as_json_in_front_of_assets(settings, db, site_package):
    spa = App(
        "spa",
        routes=items_app.routes,
        static=Static(site_package, spa_fallback=True),
        semantic=items_app.semantic,  # the items' routes search their collection
    )
    app = build_app(app_context(settings, db, spa), spa)
    api = call_asgi(app, "/api/unknown")
    assert api.status == 404
    assert api.headers["content-type"].startswith("application/json")
    assert b'"not_found"' in api.body
    page = call_asgi(app, "/items/42")
    assert page.status == 200
    assert page.body == SHELL_HTML
