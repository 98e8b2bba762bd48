"""Listing rules for items: sort keys, search terms, cursors and the query, as pure functions.

Keyset ("cursor") paging rather than OFFSET: a page boundary is the last row's sort
key plus its id, so inserts and deletes between two requests never shift rows into
or out of the next page, and deep pages cost the same as the first.

These rules are the same on every engine; each engine's store turns a ``ListQuery``
into its own SQL (``onebin.items.sqlite``, ``onebin.items.postgres``). A cursor holds
the last row's sort value (a column's text, or a relevance score, lower is better)
and its id, so it means the same thing on either engine. With ``q`` the default
order is relevance, which ranks the newest ``RANKED_CANDIDATES`` matches: below that
many matches the order is exact; above it, a search for a word that common is better
served by narrowing it or by sorting by date, which covers every match.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import msgspec

from onebin import SearchTextError, search_terms

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
MAX_ITEM_ID = 2**63 - 1
MAX_CURSOR_CHARS = 1024
RANKED_CANDIDATES = 5000
RELEVANCE = "relevance"
SORT_FIELDS = ("created_at", "updated_at", "name")
SORTS = (RELEVANCE, *SORT_FIELDS, *(f"-{field}" for field in SORT_FIELDS))
DEFAULT_SORT = "-created_at"
CursorValue = str | float


class ListQueryError(ValueError):
    """A listing parameter is invalid; the message is safe to show to the client."""


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    # None: no search; () : a search with no words in it, which matches nothing.
    terms: tuple[str, ...] | None = None
    sort_field: str = "created_at"
    descending: bool = True
    after: tuple[CursorValue, int] | None = None

    @property
    def sort(self) -> str:
        return ("-" if self.descending else "") + self.sort_field

    @property
    def matches_nothing(self) -> bool:
        return self.terms == ()


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        raise ListQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    value = int(raw)
    if not 1 <= value <= MAX_LIMIT:
        raise ListQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return value


def parse_sort(raw: str | None, *, searching: bool = False) -> tuple[str, bool]:
    """(field, descending); the default is relevance when searching, else newest first."""
    text = raw if raw is not None else (RELEVANCE if searching else DEFAULT_SORT)
    if text not in SORTS:
        raise ListQueryError(f"sort must be one of {', '.join(SORTS)}")
    if text == RELEVANCE and not searching:
        raise ListQueryError("sort=relevance needs a search: give q")
    return text.removeprefix("-"), text.startswith("-")


def parse_search(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_QUERY_CHARS:
        raise ListQueryError(f"q must be at most {MAX_QUERY_CHARS} characters")
    try:
        return search_terms(raw)
    except SearchTextError as error:
        raise ListQueryError(f"q: {error}") from None


def encode_cursor(sort: str, value: CursorValue, item_id: int) -> str:
    raw = msgspec.json.encode([sort, value, item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[CursorValue, int]:
    """The (sort value, id) a page continues after; the cursor must match the sort."""
    invalid = ListQueryError("cursor is not valid; use next_cursor from a previous page")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, item_id = msgspec.json.decode(raw, type=tuple[str, str | float, int])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise invalid from None
    if cursor_sort != sort:
        raise ListQueryError("cursor was made for another sort order")
    # Relevance pages continue after a score, the others after a column's text.
    expected = float if sort == RELEVANCE else str
    wrong_type = not isinstance(value, expected) or isinstance(value, bool)
    if wrong_type or not 1 <= item_id <= MAX_ITEM_ID:
        raise invalid
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid
    return value, item_id


def parse_list_query(params: dict[str, str]) -> ListQuery:
    unknown = set(params) - {"limit", "q", "sort", "cursor"}
    if unknown:
        raise ListQueryError(f"unknown query parameter: {sorted(unknown)[0]}")
    terms = parse_search(params.get("q"))
    field, descending = parse_sort(params.get("sort"), searching=terms is not None)
    cursor = params.get("cursor")
    sort = ("-" if descending else "") + field
    return ListQuery(
        limit=parse_limit(params.get("limit")),
        terms=terms,
        sort_field=field,
        descending=descending,
        after=decode_cursor(cursor, sort) if cursor else None,
    )
