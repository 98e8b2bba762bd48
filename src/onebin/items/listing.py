"""Listing rules for items: sort keys, search terms, cursors and the query, as pure functions.

Keyset ("cursor") paging rather than OFFSET: a page boundary is the last row's sort
key plus its id, so inserts and deletes between two requests never shift rows into
or out of the next page, and deep pages cost the same as the first.

With ``q`` there are three ways to rank (``mode``): ``text``, full-text relevance;
``semantic``, nearness in meaning (``onebin.semantic``), which finds "bread knife"
for "slicing a baguette"; and ``hybrid``, the default, both fused by rank
(``onebin.items.search``). Only ``text`` filters: a search in another ``sort`` order
keeps the rows that contain the words, so it needs ``mode=text``.

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
import dataclasses
import math

import msgspec

from onebin import SearchTextError, search_terms

DEFAULT_LIMIT = 20
SIMILAR_LIMIT = 10
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
MAX_ITEM_ID = 2**63 - 1
MAX_CURSOR_CHARS = 1024
RANKED_CANDIDATES = 5000
RELEVANCE = "relevance"
SORT_FIELDS = ("created_at", "updated_at", "name")
SORTS = (RELEVANCE, *SORT_FIELDS, *(f"-{field}" for field in SORT_FIELDS))
DEFAULT_SORT = "-created_at"
TEXT, SEMANTIC, HYBRID = "text", "semantic", "hybrid"
MODES = (TEXT, SEMANTIC, HYBRID)
DEFAULT_MODE = HYBRID
CursorValue = str | float


class ListQueryError(ValueError):
    """A listing parameter is invalid; the message is safe to show to the client."""


@dataclasses.dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    # None: no search; () : a search with no words in it, which matches nothing.
    terms: tuple[str, ...] | None = None
    sort_field: str = "created_at"
    descending: bool = True
    after: tuple[CursorValue, int] | None = None
    # How a search ranks (MODES); text when not searching or not by relevance.
    mode: str = TEXT

    @property
    def sort(self) -> str:
        """The order as a cursor names it: relevance of each mode is its own order."""
        if self.sort_field == RELEVANCE and self.mode != TEXT:
            return f"{RELEVANCE}:{self.mode}"
        return ("-" if self.descending else "") + self.sort_field

    @property
    def by_meaning(self) -> bool:
        """Ranked by a semantic or hybrid search rather than by SQL alone."""
        return self.mode != TEXT

    @property
    def matches_nothing(self) -> bool:
        return self.terms == ()


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    if raw is None:
        return default
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
    expected = float if sort.startswith(RELEVANCE) else str
    wrong_type = not isinstance(value, expected) or isinstance(value, bool)
    if wrong_type or not 1 <= item_id <= MAX_ITEM_ID:
        raise invalid
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid
    return value, item_id


def parse_similar_query(params: dict[str, str]) -> int:
    """The ``limit`` of a list of similar items (default ``SIMILAR_LIMIT``)."""
    unknown = set(params) - {"limit"}
    if unknown:
        raise ListQueryError(f"unknown query parameter: {sorted(unknown)[0]}")
    return parse_limit(params.get("limit"), SIMILAR_LIMIT)


def parse_mode(raw: str | None, *, searching: bool, field: str) -> str:
    """The search mode: hybrid by default when ranking a search by relevance; a search
    in another order filters by words, so it is text, and asking otherwise is refused.
    Without a search (``q`` empty or absent) there is nothing to rank and the mode
    does not matter."""
    if raw is not None and raw not in MODES:
        raise ListQueryError(f"mode must be one of {', '.join(MODES)}")
    if not searching:
        return TEXT
    if field != RELEVANCE:
        if raw not in (None, TEXT):
            raise ListQueryError(f"mode={raw} ranks by relevance: use sort=relevance or mode=text")
        return TEXT
    return raw or DEFAULT_MODE


def parse_list_query(params: dict[str, str]) -> ListQuery:
    unknown = set(params) - {"limit", "q", "sort", "cursor", "mode"}
    if unknown:
        raise ListQueryError(f"unknown query parameter: {sorted(unknown)[0]}")
    terms = parse_search(params.get("q"))
    searching = terms is not None
    field, descending = parse_sort(params.get("sort"), searching=searching)
    query = ListQuery(
        limit=parse_limit(params.get("limit")),
        terms=terms,
        sort_field=field,
        descending=descending,
        mode=parse_mode(params.get("mode"), searching=searching, field=field),
    )
    cursor = params.get("cursor")
    if not cursor:
        return query
    return dataclasses.replace(query, after=decode_cursor(cursor, query.sort))
