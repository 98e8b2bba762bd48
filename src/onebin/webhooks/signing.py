"""The signature of a delivery: what onebin sends, and how a receiver checks it.

``Onebin-Signature: v1=<hex>`` is HMAC-SHA256 keyed with the webhook's secret (its
text as printed by ``onebin webhook add``, UTF-8) over ``"{timestamp}.{body}"``,
where ``timestamp`` is the ``Onebin-Timestamp`` header (Unix seconds) and ``body``
the exact bytes of the request body. Signing the timestamp with the body lets a
receiver refuse an old request replayed by someone who recorded it; ``v1=`` leaves
room for another scheme (a receiver may then get several, comma-separated).

Pure functions: onebin's delivery uses ``signature``; ``verify`` is the receiver's
side, written here once so that the tests and the documentation agree on it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "v1"
# How old a signed timestamp a receiver accepts (either way: clocks drift).
TOLERANCE = 300


def new_secret() -> str:
    """A webhook's signing secret: 256 random bits, as hex text."""
    return secrets.token_hex(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Onebin-Signature`` header's value for ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str, header: str, timestamp: str, body: bytes, *, now: float, tolerance: int = TOLERANCE
) -> bool:
    """Whether a request is onebin's and recent: the receiver's check.

    ``header`` is ``Onebin-Signature``, ``timestamp`` the ``Onebin-Timestamp`` text.
    Compares in constant time (``hmac.compare_digest``) so the response time says
    nothing about how much of a forged signature was right. A receiver must still
    deduplicate on ``Onebin-Event-Id``: delivery is at least once.
    """
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(
        hmac.compare_digest(expected.encode(), candidate.strip().encode())
        for candidate in header.split(",")
    )
