from __future__ import annotations

import pytest

from onebin.assets.caching import IMMUTABLE, REVALIDATE, cache_control, content_hashed, strong_etag


def test_strong_etag_is_quoted_stable_and_differs_per_content():
    tag = strong_etag(b"abc")
    assert tag.startswith('"')
    assert tag.endswith('"')
    assert not tag.startswith("W/")
    assert tag == strong_etag(b"abc")
    assert tag != strong_etag(b"abd")


def test_cache_control_is_a_year_for_hashed_files_and_revalidate_otherwise():
    assert cache_control(True) == IMMUTABLE
    assert cache_control(False) == REVALIDATE
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert REVALIDATE == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/_app/immutable/entry/start.abc.js",  # SvelteKit
        "/assets/index-BkS2Aq0c.js",  # Vite
        "/assets/logo-a1b2c3d4e5.svg",
        "/assets/fonts/inter-Ab_9-xYz.woff2",
        "/app/assets/index-BkS2Aq0c.css",  # Vite under a base path
    ],
)
def test_content_hashed_knows_sveltekit_and_vite_names(path):
    assert content_hashed(path)


@pytest.mark.parametrize(
    "path",
    [
        "/index.html",
        "/_app/version.json",
        "/hand-drawn.svg",  # a dash and a word, outside /assets/
        "/assets/logo.svg",  # no hash
        "/assets/a-b.js",  # too short to be a hash
        "/static/index-BkS2Aq0c.js",
    ],
)
def test_content_hashed_leaves_other_names_revalidated(path):
    assert not content_hashed(path)
