"""Listing rules for items: sort keys, cursors and the keyset query, as pure functions.

Keyset ("cursor") paging rather than OFFSET: a page boundary is the last row's sort
key plus its id, so inserts and deletes between two requests never shift rows into
or out of the next page, and deep pages cost the same as the first.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import msgspec

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
SORT_FIELDS = ("created_at", "updated_at", "name")
DEFAULT_SORT = "-created_at"


class ListQueryError(ValueError):
    """A listing parameter is invalid; the message is safe to show to the client."""


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    search: str = ""
    sort_field: str = "created_at"
    descending: bool = True
    after: tuple[str, int] | None = None

    @property
    def sort(self) -> str:
        return ("-" if self.descending else "") + self.sort_field


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        raise ListQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    value = int(raw)
    if not 1 <= value <= MAX_LIMIT:
        raise ListQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return value


def parse_sort(raw: str | None) -> tuple[str, bool]:
    text = raw or DEFAULT_SORT
    descending = text.startswith("-")
    field = text.removeprefix("-")
    if field not in SORT_FIELDS:
        choices = ", ".join(f"{f} or -{f}" for f in SORT_FIELDS)
        raise ListQueryError(f"sort must be one of {choices}")
    return field, descending


def encode_cursor(sort: str, value: str, item_id: int) -> str:
    raw = msgspec.json.encode([sort, value, item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, int]:
    """The (sort value, id) a page continues after; the cursor must match the sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, item_id = msgspec.json.decode(raw, type=tuple[str, str, int])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ListQueryError("cursor is not valid; use next_cursor from a previous page") from None
    if cursor_sort != sort:
        raise ListQueryError("cursor was made for another sort order")
    return value, item_id


def parse_list_query(params: dict[str, str]) -> ListQuery:
    unknown = set(params) - {"limit", "q", "sort", "cursor"}
    if unknown:
        raise ListQueryError(f"unknown query parameter: {sorted(unknown)[0]}")
    search = params.get("q", "").strip()
    if len(search) > MAX_QUERY_CHARS:
        raise ListQueryError(f"q must be at most {MAX_QUERY_CHARS} characters")
    field, descending = parse_sort(params.get("sort"))
    cursor = params.get("cursor")
    sort = ("-" if descending else "") + field
    return ListQuery(
        limit=parse_limit(params.get("limit")),
        search=search,
        sort_field=field,
        descending=descending,
        after=decode_cursor(cursor, sort) if cursor else None,
    )


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def build_list_sql(query: ListQuery) -> tuple[str, list[object]]:
    """SQL and parameters for one page; fetches limit + 1 rows to know if more exist."""
    where: list[str] = []
    params: list[object] = []
    if query.search:
        pattern = f"%{escape_like(query.search)}%"
        where.append("(name LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
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
