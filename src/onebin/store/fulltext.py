"""What a user typed into a search box, as a safe SQLite FTS5 query.

FTS5 has a query language of its own (``AND``, ``NEAR``, column filters, quotes); a
user's text must never be parsed as that language, or ``"`` alone is a syntax error
and ``x OR y*`` a costly expansion. So the text is cut into words and each word is
passed as a quoted string: every word must match, and a word of two or more
characters matches as a prefix, so typing ``ham`` already finds ``hammer``. A single
letter matches only itself: as a prefix it would match nearly every row.
"""

from __future__ import annotations

import re

MAX_TERMS = 32
MIN_PREFIX = 2
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SearchTextError(ValueError):
    """The search text cannot be used; the message is safe to show to the client."""


def search_terms(text: str) -> tuple[str, ...]:
    """The words of ``text``, lower-cased; refuses control characters and too many words."""
    if _CONTROL.search(text):
        raise SearchTextError("the search text must not contain control characters")
    terms = tuple(_WORD.findall(text.lower()))
    if len(terms) > MAX_TERMS:
        raise SearchTextError(f"the search text has more than {MAX_TERMS} words")
    return terms


def match_expression(terms: tuple[str, ...]) -> str:
    """An FTS5 MATCH expression requiring every term, each of 2+ characters as a prefix."""
    return " ".join(f'"{term}"*' if len(term) >= MIN_PREFIX else f'"{term}"' for term in terms)
