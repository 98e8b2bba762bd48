"""Entity tags in conditional requests (RFC 9110 §8.8.3, §13.1): pure parsing and matching.

One parser for everything onebin compares tags in: the embedded assets'
``If-None-Match`` and the API's ``If-None-Match`` and ``If-Match``. It follows the
grammar rather than splitting on commas, since a comma is a legal character inside
a tag; parsing stops at the first malformed element: what came before it still
counts, nothing after it is trusted.
"""

from __future__ import annotations

WEAK = "W/"


def entity_tags(header: str) -> list[str] | None:
    """The tags of a header value, each as sent (``W/"x"`` or ``"x"``); None means ``*``."""
    if header.strip() == "*":
        return None
    tags: list[str] = []
    position, end = 0, len(header)
    while position < end:
        char = header[position]
        if char in " \t,":
            position += 1
            continue
        start = position
        if header.startswith(WEAK, position):
            position += len(WEAK)
        if position >= end or header[position] != '"':
            break
        closing = header.find('"', position + 1)
        if closing == -1:
            break
        tags.append(header[start : closing + 1])
        position = closing + 1
    return tags


def none_match(header: str, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag``: weak comparison, ``W/"x"`` matches ``"x"``."""
    tags = entity_tags(header)
    return tags is None or etag in (tag.removeprefix(WEAK) for tag in tags)


def strong_tags(header: str) -> list[str] | None:
    """The tags ``If-Match`` can match (strong comparison: weak ones never do); None: ``*``."""
    tags = entity_tags(header)
    return None if tags is None else [tag for tag in tags if not tag.startswith(WEAK)]
