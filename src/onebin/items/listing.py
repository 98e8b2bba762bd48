"""Listing rules for items: sort keys, search, cursors and the query, as pure functions.

Keyset ("cursor") paging rather than OFFSET: a page boundary is the last row's sort
key plus its id, so inserts and deletes between two requests never shift rows into
or out of the next page, and deep pages cost the same as the first.

Search uses the full-text index (FTS5). With ``q`` the default order is relevance
(bm25: a hit in the name weighs most, then tags, then the description). Ranking
costs a few microseconds per matching row, so a word found in most of a million
items would take seconds to rank in full: relevance ranks the newest
``RANKED_CANDIDATES`` matches. Below that many matches the order is exact; above
it, a search for a word that common is better served by narrowing it or by sorting
by date, which covers every match. The bound covers the scoring, not everything:
bm25 also counts, once per search, every item holding each word (its IDF: 23 ms for
a word in 90% of a million items), and a word of four or more letters is a prefix
the index has no shortcut for (``prefix='2 3'``), whose matches FTS5 collects in full
(34 ms for a word in 56%).

A search in another order has two plans. With few matches, the matching rows are
fetched and sorted. With many, that took 0.9 s for a word in 90% of a million items,
so the sort column's index is walked instead, in order, keeping rows whose id is
among the matches (collected once, 0.12 s for that word), until the page is full:
about rows/matches index steps per row of the page, the whole index at worst, when
the matches all sit at its far end. The caller picks by counting matches up to
``RANKED_CANDIDATES`` (``COUNT_MATCHES``), which is cheap because the count stops
there.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import msgspec

from onebin import SearchTextError, match_expression, search_terms

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
# The newest matches, scored by bm25 with weights for name, description and tags.
_RANKED = (
    "SELECT items.*, ranked.score AS score FROM (SELECT rowid AS id, "
    "bm25(items_fts, 10.0, 1.0, 5.0) AS score FROM items_fts WHERE items_fts MATCH ? "
    "ORDER BY rowid DESC LIMIT ?) AS ranked JOIN items ON items.id = ranked.id"
)

# How many rows match, counting no further than the bound given as the second value.
COUNT_MATCHES = "SELECT count(*) FROM (SELECT 1 FROM items_fts WHERE items_fts MATCH ? LIMIT ?)"

_MATCHING_IDS = "IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)"
_FETCH_MATCHES = "id " + _MATCHING_IDS
_WALK_SORT_INDEX = "+id " + _MATCHING_IDS

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


def build_list_sql(query: ListQuery, *, many_matches: bool = False) -> tuple[str, list[object]]:
    """SQL and parameters for one page; fetches limit + 1 rows to know if more exist.

    ``many_matches``: the search matches more than ``RANKED_CANDIDATES`` rows, so
    the page is found by walking the sort index (see the module docstring).
    """
    if query.sort_field == RELEVANCE:
        return _relevance_sql(query)
    where: list[str] = []
    params: list[object] = []
    if query.terms:
        # "+id" keeps SQLite from driving the query by id: it then walks the sort
        # index and tests each id against the matches, collected once.
        where.append(_WALK_SORT_INDEX if many_matches else _FETCH_MATCHES)
        params.append(match_expression(query.terms))
    if query.after is not None:
        op = "<" if query.descending else ">"
        where.append(f"({query.sort_field}, id) {op} (?, ?)")
        params += list(query.after)
    direction = "DESC" if query.descending else "ASC"
    sql = "SELECT * FROM items"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {query.sort_field} {direction}, id {direction} LIMIT ?"
    params.append(query.limit + 1)
    return sql, params


def _relevance_sql(query: ListQuery) -> tuple[str, list[object]]:
    assert query.terms  # parse_sort allows relevance only with a search
    params: list[object] = [match_expression(query.terms), RANKED_CANDIDATES]
    sql = _RANKED
    if query.after is not None:
        sql += " WHERE (ranked.score, ranked.id) > (?, ?)"
        params += list(query.after)
    sql += " ORDER BY ranked.score, ranked.id LIMIT ?"
    params.append(query.limit + 1)
    return sql, params
