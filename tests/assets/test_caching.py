from __future__ import annotations

import pytest

from onebin.assets.caching import (
    IMMUTABLE,
    REVALIDATE,
    cache_control,
    entity_tags,
    none_match,
    strong_etag,
)


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


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ('"a"', ['"a"']),
        ('"a", W/"b"', ['"a"', '"b"']),
        (' "a" ,, "b" ', ['"a"', '"b"']),
        ('"a,b", "c"', ['"a,b"', '"c"']),
        ('"a", junk, "b"', ['"a"']),
        ('"unterminated', []),
        ("", []),
    ],
)
def test_entity_tags_follow_the_grammar(header, tags):
    assert entity_tags(header) == tags


def test_entity_tags_star_means_any():
    assert entity_tags(" * ") is None


def test_none_match_uses_weak_comparison_and_star():
    assert none_match('"x"', '"x"')
    assert none_match('W/"x"', '"x"')
    assert none_match('"y", "x"', '"x"')
    assert none_match("*", '"x"')
    assert not none_match('"y"', '"x"')
    assert not none_match("x", '"x"')
