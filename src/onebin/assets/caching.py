"""Validators and freshness: strong ETags, ``If-None-Match`` and ``Cache-Control``."""

from __future__ import annotations

import base64
import hashlib
import re

IMMUTABLE = "public, max-age=31536000, immutable"
# Unhashed files may change with any release: the browser must revalidate each time,
# which costs a 304 when nothing changed.
REVALIDATE = "no-cache"

# SvelteKit writes every content-hashed file below _app/immutable/; Vite (and what is
# built on it) writes them to assets/ as name-HASH.ext, the hash being 8 or more
# base64url characters (both below any base path). Outside an assets/ directory a
# name like "hand-drawn.svg" would look the same, so only that directory is trusted.
_SVELTEKIT_IMMUTABLE = "/_app/immutable/"
_VITE_HASHED = re.compile(r"(?:/[^/]+)*/assets/(?:[^/]+/)*[^/]+-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+")


def content_hashed(path: str) -> bool:
    """Whether a built file's URL path carries a hash of its content.

    The default rule of ``Static.immutable``: SvelteKit's ``/_app/immutable/`` and
    Vite's ``/assets/name-HASH.ext``. Such a file never changes under its name, so
    browsers may keep it for a year without asking again.
    """
    return _SVELTEKIT_IMMUTABLE in path or _VITE_HASHED.fullmatch(path) is not None


def strong_etag(content: bytes) -> str:
    """A strong ETag from the bytes themselves, so each stored variant gets its own."""
    digest = hashlib.blake2b(content, digest_size=15).digest()
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii") + '"'


def cache_control(immutable: bool) -> str:
    """Forever for content-hashed build output, revalidate for everything else."""
    return IMMUTABLE if immutable else REVALIDATE
