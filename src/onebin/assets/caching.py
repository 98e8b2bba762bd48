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
