from __future__ import annotations

from onebin.assets.caching import IMMUTABLE, REVALIDATE, cache_control, strong_etag


def test_strong_etag_is_quoted_stable_and_differs_per_content():
    tag = strong_etag(b"abc")
    assert tag.startswith('"')
    assert tag.endswith('"')
    assert not tag.startswith("W/")
    assert tag == strong_etag(b"abc")
    assert tag != strong_etag(b"abd")


def test_cache_control_is_immutable_only_under_hashed_prefixes():
    prefixes = ("/_app/immutable/",)
    assert cache_control("/_app/immutable/entry/start.abc.js", prefixes) == IMMUTABLE
    assert cache_control("/index.html", prefixes) == REVALIDATE
    assert cache_control("/_app/version.json", prefixes) == REVALIDATE
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert REVALIDATE == "no-cache"
