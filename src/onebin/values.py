"""Parsers for setting values: the text of a flag or variable in, a typed value out.

Each raises ``ValueError`` with a message fit for the user; ``config`` adds which
flag or variable it came from.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import unquote

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+)\s*([kmgt]i?b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """A parser for whole numbers from ``low`` to ``high`` (no upper bound if None)."""

    def parse(text: str) -> int:
        # ASCII digits only: int() also reads "1_0", full-width and Arabic digits, and
        # spends time on (or refuses with its own error) thousands of digits.
        if not _WHOLE.fullmatch(text.strip()):
            raise ValueError(f"{text[:40]!r} is not a whole number")
        value = int(text)
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bounds}")
        return value

    return parse


_WHOLE = re.compile(r"-?[0-9]{1,30}")

port = int_in(0, 65535)
# A row id: what a 64-bit integer column (SQLite's, PostgreSQL's BIGINT) can hold.
row_id = int_in(1, 2**63 - 1)
positive_int = int_in(1)
workers = int_in(1, 64)


def float_above(low: float) -> Callable[[str], float]:
    """A parser for numbers greater than ``low``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not value > low:
            raise ValueError(f"must be greater than {low:g}")
        return value

    return parse


positive_float = float_above(0)


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``500ms``, ``30m``, ``6h`` or ``1d``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 6h or 1d")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if not seconds > 0:
        raise ValueError("must be longer than 0")
    return seconds


def size(text: str) -> int:
    """Bytes from ``1048576``, ``512K``, ``64MiB`` or ``2G`` (powers of 1024)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size like 64MiB or 2G")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _SIZE_UNITS[unit if unit != "b" else ""]


def connection_limit(text: str) -> int | None:
    """A whole number, or ``auto`` (None): derived from the open-files limit at start."""
    if text.strip().lower() == "auto":
        return None
    return positive_int(text)


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def domain(text: str) -> str:
    name = text.strip().lower().rstrip(".")
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or any(
            not label or len(label) > 63 or not label.replace("-", "").isalnum() for label in labels
        )
    ):
        raise ValueError(f"{text!r} is not a valid domain name")
    return name


def app_reference(text: str) -> str:
    """``MODULE:ATTRIBUTE`` as written, e.g. ``guestbook.app:app``; only its syntax is
    checked here: importing it runs the app's code, which is the CLI's to do (and to
    report), not a setting parser's."""
    module, colon, attribute = text.strip().partition(":")
    if (
        not colon
        or not attribute.isidentifier()
        or not all(part.isidentifier() for part in module.split("."))
    ):
        raise ValueError(f"expected MODULE:ATTRIBUTE, e.g. guestbook.app:app (got {text!r})")
    return f"{module}:{attribute}"


def log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be one of debug, info, warning, error")
    return level


def log_format(text: str) -> str:
    chosen = text.strip().lower()
    if chosen not in {"text", "json"}:
        raise ValueError("must be text or json")
    return chosen


def sqlite_synchronous(text: str) -> str:
    mode = text.strip().upper()
    if mode not in {"FULL", "NORMAL"}:
        raise ValueError("must be FULL or NORMAL")
    return mode


def origin_list(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"{origin!r} is not an origin like https://example.com")
    return origins


def network_list(text: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR networks, normalised (``10.0.0.1`` -> ``10.0.0.1/32``)."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network like 10.0.0.0/8") from None
    return tuple(networks)


_DATABASE_SCHEMES = ("postgresql", "postgres")
# A password in a URL's user part (``user:secret@``) or in its query (``password=secret``).
_URL_PASSWORD = re.compile(r"(^|//)([^/?#@:]*):([^/?#@]*)@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)


def database_url(text: str) -> str:
    """A PostgreSQL URL (``postgresql://`` or ``postgres://``), kept as written.

    Only the scheme is checked here: libpq parses the rest when it connects (hosts,
    ``sslmode`` and its other parameters), and its word on them is the one that
    counts. The error never repeats the password.
    """
    url = text.strip()
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() not in _DATABASE_SCHEMES or not rest.startswith("//"):
        raise ValueError(
            "expected a PostgreSQL URL like postgresql://USER:PASSWORD@HOST:5432/DATABASE "
            f"(got {redact(url)!r})"
        )
    return url


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for a log line or a message.

    A database URL may carry the password (``user:secret@host``, ``?password=``), and
    logs and terminals are read by more people than the database is.
    """
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1\2:***@", url, count=1))


def scrub(text: str, url: str) -> str:
    """``text`` (say, libpq's error about ``url``) with ``url``'s password taken out.

    libpq repeats the URL, or the part it could not parse, in its messages
    (``invalid percent-encoded token: "p%zzsecret"``): the password may sit anywhere.
    """
    found = [m.group(3) for m in _URL_PASSWORD.finditer(url)]
    found += [m.group(2) for m in _QUERY_PASSWORD.finditer(url)]
    for password in sorted({*found, *map(unquote, found)} - {""}, key=len, reverse=True):
        text = text.replace(password, "***")
    return text
