from __future__ import annotations

import pytest

from onebin.assets.paths import asset_path, is_navigation


def test_asset_path_passes_plain_paths_through():
    assert asset_path("/_app/immutable/a.js", b"/_app/immutable/a.js") == "/_app/immutable/a.js"
    assert asset_path("/", None) == "/"


def test_asset_path_decodes_harmless_escapes_from_the_raw_path():
    assert asset_path("/caf\u00e9.txt", b"/caf%C3%A9.txt") == "/caf\u00e9.txt"


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/../etc/passwd", b"/../etc/passwd"),
        ("/_app/../index.html", b"/_app/%2e%2e/index.html"),
        ("/_app/../index.html", b"/_app/%2E%2E/index.html"),
        ("/_app/./x.js", b"/_app/./x.js"),
        ("/_app/immutable/a.js", b"/_app%2fimmutable/a.js"),
        ("/_app/immutable/a.js", b"/_app%2Fimmutable/a.js"),
        ("/a\\b", b"/a%5cb"),
        ("/a\x00.js", b"/a%00.js"),
        ("/a\x00.js", None),
        ("/a\\..\\b", None),
        ("/.env", b"/.env"),
        ("/bad", b"/%ff"),
        ("relative", None),
    ],
)
def test_asset_path_refuses_paths_that_could_escape(path, raw_path):
    assert asset_path(path, raw_path) is None


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/", True),
        ("GET", "/items/42", True),
        ("HEAD", "/items/42/edit", True),
        ("GET", "/items/", True),
        ("GET", "/_app/x.js", False),
        ("GET", "/favicon.ico", False),
        ("POST", "/items/42", False),
        ("DELETE", "/", False),
    ],
)
def test_is_navigation_only_for_page_loads(method, path, expected):
    assert is_navigation(method, path) is expected
