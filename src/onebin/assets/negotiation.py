"""Content-coding negotiation: which stored variant answers an ``Accept-Encoding``.

RFC 9110 §12.5.3: codings are case-insensitive, each may carry a ``q`` weight from 0
to 1 where 0 means "not acceptable", ``*`` stands for every coding not named, and
``identity`` is acceptable unless refused explicitly or through ``*;q=0``.
"""

from __future__ import annotations

import re
from functools import lru_cache

IDENTITY = "identity"
# Server preference among codings the client weighs equally: smallest first.
PREFERENCE = ("br", "gzip", IDENTITY)
# RFC 9110 §8.4.1.3: x-gzip is gzip under an old name.
ALIASES = {"x-gzip": "gzip"}
IMPLICIT_IDENTITY_WEIGHT = 0.001
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


def parse_accept_encoding(header: str) -> dict[str, float]:
    """Coding -> weight for every well-formed element of the header.

    An element whose weight is malformed is dropped rather than guessed at; a
    repeated coding keeps its first weight.
    """
    weights: dict[str, float] = {}
    for element in header.split(","):
        coding, *params = (part.strip() for part in element.split(";"))
        coding = ALIASES.get(coding.lower(), coding.lower())
        if not coding or coding in weights:
            continue
        weight: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE.fullmatch(value) else None
        if weight is not None:
            weights[coding] = weight
    return weights


def weight_of(coding: str, weights: dict[str, float]) -> float:
    if coding in weights:
        return weights[coding]
    if "*" in weights:
        return weights["*"]
    # identity stays acceptable unless refused, but only as the last resort: a
    # client that asks for "br;q=0.9" still prefers br to the uncompressed bytes.
    return IMPLICIT_IDENTITY_WEIGHT if coding == IDENTITY else 0.0


@lru_cache(maxsize=512)
def choose_encoding(header: str | None, available: tuple[str, ...]) -> str:
    """The coding to send, among ``available`` (which always includes identity).

    Without the header we send identity: RFC 9110 would allow any coding, but
    clients such as scripts that send nothing rarely decode br. When nothing
    offered is acceptable we also send identity, as §12.5.3 permits, instead of
    a 406 that no browser would show usefully. Cached because browsers send a
    handful of distinct header values over and over.
    """
    if header is None:
        return IDENTITY
    weights = parse_accept_encoding(header)
    best, best_weight = IDENTITY, 0.0
    for coding in PREFERENCE:
        if coding in available:
            weight = weight_of(coding, weights)
            if weight > best_weight:
                best, best_weight = coding, weight
    return best
