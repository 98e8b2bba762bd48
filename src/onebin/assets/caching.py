"""Validators and freshness: strong ETags, ``If-None-Match`` and ``Cache-Control``."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

IMMUTABLE = "public, max-age=31536000, immutable"
# Unhashed files may change with any release: the browser must revalidate each time,
# which costs a 304 when nothing changed.
REVALIDATE = "no-cache"


def strong_etag(content: bytes) -> str:
    """A strong ETag from the bytes themselves, so each stored variant gets its own."""
    digest = hashlib.blake2b(content, digest_size=15).digest()
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii") + '"'


def cache_control(path: str, immutable_prefixes: Sequence[str]) -> str:
    """Forever for content-hashed build output, revalidate for everything else."""
    return IMMUTABLE if path.startswith(tuple(immutable_prefixes)) else REVALIDATE


def entity_tags(header: str) -> list[str] | None:
    """The opaque tags of an ``If-None-Match`` value, ``W/`` removed; None means ``*``.

    Parsed by the grammar rather than split on commas, since a comma is a legal
    character inside a tag. Parsing stops at the first malformed element: what came
    before it still counts, nothing after it is trusted.
    """
    if header.strip() == "*":
        return None
    tags: list[str] = []
    position, end = 0, len(header)
    while position < end:
        char = header[position]
        if char in " \t,":
            position += 1
            continue
        if header.startswith("W/", position):
            position += 2
        if position >= end or header[position] != '"':
            break
        closing = header.find('"', position + 1)
        if closing == -1:
            break
        tags.append(header[position : closing + 1])
        position = closing + 1
    return tags


def none_match(header: str, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    tags = entity_tags(header)
    return tags is None or etag in tags
