"""What a webhook may be: an http(s) URL with a host, and dotted event patterns.

Pure functions, so the command line can refuse a bad webhook before it touches the
database, and the fan-out can match events without I/O.

A pattern is an event type in which ``*`` stands for any run of characters, dots
included, matched against the whole type: ``item.*`` matches ``item.created``, ``*``
matches every event, ``*.deleted`` every deletion. Only ``*`` is special (no ``?``
nor ``[...]`` as in ``fnmatch``), so what an operator types is what it means.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

MAX_URL = 2000
MAX_PATTERN = 64
MAX_PATTERNS = 32
# Event types are dotted lower-case words (onebin.events.log.check_type); a pattern
# is one with ``*`` allowed anywhere in its words.
_PATTERN = re.compile(r"[a-z*][a-z0-9_*-]*(\.[a-z0-9_*-]+)*")


def check_url(url: str) -> str:
    """``url`` if it is an absolute http or https URL with a host, else ``ValueError``."""
    if len(url) > MAX_URL:
        raise ValueError(f"a webhook URL has at most {MAX_URL} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise ValueError(f"webhook URL {url!r} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError(f"webhook URL {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"webhook URL {url!r} must start with http:// or https://, e.g. https://example.com/hook"
        )
    if not parts.hostname:
        raise ValueError(f"webhook URL {url!r} has no host")
    if parts.fragment:
        raise ValueError(f"webhook URL {url!r} has a #fragment, which is never sent")
    return url


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a dotted event type with ``*`` wildcards, else ``ValueError``."""
    if len(pattern) > MAX_PATTERN or not _PATTERN.fullmatch(pattern):
        raise ValueError(
            f"event pattern {pattern!r} must be a dotted lower-case event type in which * "
            "matches anything, e.g. item.* or item.created or *"
        )
    return pattern


def parse_patterns(values: Iterable[str]) -> list[str]:
    """The patterns of ``--events`` options, each possibly comma-separated; ``["*"]``
    for none. Checked, duplicates dropped, order kept."""
    patterns = [part.strip() for value in values for part in value.split(",")]
    if not patterns:
        return ["*"]
    checked = list(dict.fromkeys(check_pattern(pattern) for pattern in patterns))
    if len(checked) > MAX_PATTERNS:
        raise ValueError(f"a webhook has at most {MAX_PATTERNS} event patterns")
    return checked


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether any of ``patterns`` matches the whole of ``event_type``."""
    return any(_compiled(pattern).fullmatch(event_type) for pattern in patterns)


def redacted(url: str) -> str:
    """``url`` as errors and logs show it: no user:password, no query string.

    Some services put a credential in the query (``?token=...``); the path stays,
    so the operator can still tell which of their webhooks failed.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"
