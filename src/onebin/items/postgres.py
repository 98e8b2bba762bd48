"""Items in PostgreSQL: the ``ItemStore`` of the ``postgresql`` engine, with tsvector search.

The schema is in ``onebin.items.repository`` (each migration's ``postgresql`` SQL).
``fn`` gets a psycopg 3 connection whose rows are read by column name; this module
never imports psycopg, so a build without it still serves SQLite.

Search, as on SQLite: every word must match, in any field; a word of two or more
characters matches as the start of a word, a single character only that whole
word. The search text becomes a ``to_tsquery`` text built from ``search_terms``:
each term is a quoted lexeme, so nothing the user typed is read as tsquery
operators. Relevance is ``ts_rank`` with the weights name 1.0, tags 0.5,
description 0.1 (the 10/5/1 of SQLite's bm25), negated so that lower is better as
bm25's scores are, over the newest ``RANKED_CANDIDATES`` matches, ties by id. Unlike
bm25 it does not weigh rare words above common ones or short texts above long ones:
it counts where and how often the words occur (and, for several words, how close
together), so items hit in the same field may come in another order than on SQLite.
A search in another order leaves the plan to PostgreSQL's planner: a bitmap scan of
the GIN index and a sort for few matches, the sort column's index filtered by the
stored ``search`` column for many.

Conditional writes are single statements: ``UPDATE ... WHERE id = ... AND version =
ANY(...) RETURNING``. Two writers of one row serialise on its row lock, and the
second re-checks the version against the row the first committed, so of several
writes expecting one version, on any number of processes, exactly one succeeds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from onebin.items.listing import RANKED_CANDIDATES, RELEVANCE, ListQuery
from onebin.items.models import Item, ItemCreate, ItemPatch, NotFound, VersionConflict
from onebin.items.repository import (
    Row,
    StoreReads,
    item_from_row,
    now_iso,
    patch_changes,
    tags_json,
)

# A psycopg 3 connection (rows as mappings); typed loosely to keep psycopg optional.
Connection = Any

# Every statement is a literal: parameters carry all values, named so that one
# value can appear twice, and a patch's absent fields are NULL (no field can be).
_SELECT = "SELECT id, name, description, tags, created_at, updated_at, version FROM items"
_GET = _SELECT + " WHERE id = %(id)s"
_INSERT = (
    "INSERT INTO items (name, description, tags, created_at, updated_at, version) "
    "VALUES (%(name)s, %(description)s, %(tags)s, %(stamp)s, %(stamp)s, 1) "
    "RETURNING id, name, description, tags, created_at, updated_at, version"
)
# versions NULL: an unconditional write; else it happens only at one of the versions.
_UPDATE = (
    "UPDATE items SET name = coalesce(%(name)s, name), "
    "description = coalesce(%(description)s, description), tags = coalesce(%(tags)s, tags), "
    "updated_at = %(stamp)s, version = version + 1 "
    "WHERE id = %(id)s AND (%(versions)s::bigint[] IS NULL OR version = ANY(%(versions)s)) "
    "RETURNING id, name, description, tags, created_at, updated_at, version"
)
_DELETE = (
    "DELETE FROM items "
    "WHERE id = %(id)s AND (%(versions)s::bigint[] IS NULL OR version = ANY(%(versions)s)) "
    "RETURNING id, version"
)
_VERSION = "SELECT version FROM items WHERE id = %(id)s"
# The newest matches, then their scores: ts_rank runs on RANKED_CANDIDATES rows at
# most, after the LIMIT, never on every match. Weights are for the labels {D, C, B,
# A}: description 0.1, (none), tags 0.5, name 1.0.
_RANKED = (
    "SELECT * FROM (SELECT id, name, description, tags, created_at, updated_at, version, "
    "-ts_rank('{0.1, 0, 0.5, 1.0}', search, to_tsquery('items_search', %(q)s))::float8 "
    "AS score FROM (SELECT id, name, description, tags, created_at, updated_at, version, "
    "search FROM items WHERE search @@ to_tsquery('items_search', %(q)s) "
    "ORDER BY id DESC LIMIT %(candidates)s) AS newest) AS ranked"
)
_MATCHES = "search @@ to_tsquery('items_search', %(q)s)"
# The sort key of each field: names compare as SQLite's NOCASE does (A-Z folded,
# then code points), which is lower() under the column's "C" collation.
_SORT_KEYS = {"created_at": "created_at", "updated_at": "updated_at", "name": "lower(name)"}
_AFTER_KEYS = {
    "created_at": "%(after)s",
    "updated_at": "%(after)s",
    "name": 'lower(%(after)s::text COLLATE "C")',
}
# As onebin's match_expression: shorter words match only themselves.
MIN_PREFIX = 2
# A larger version cannot be stored, so it cannot be current.
_MAX_VERSION = 2**63 - 1


def _quoted(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery_text(terms: Sequence[str]) -> str | None:
    """A ``to_tsquery`` text requiring every term; None when no term has a word in it.

    ``terms`` come from ``search_terms`` (runs of ``\\w``); a term is cut at ``_``
    into a phrase, as FTS5 cuts ``"foo_bar"*`` into ``foo`` then ``bar*``, and the
    last word of a term of 2+ characters matches as a prefix.
    """
    parts = []
    for term in terms:
        words = [_quoted(word) for word in term.split("_") if word]
        if not words:
            continue
        if len(term) >= MIN_PREFIX:
            words[-1] += ":*"
        parts.append(words[0] if len(words) == 1 else "(" + " <-> ".join(words) + ")")
    return " & ".join(parts) or None


def build_list_sql(query: ListQuery, tsquery: str | None) -> tuple[str, dict[str, object]]:
    """SQL and parameters for one page; fetches limit + 1 rows to know if more exist."""
    params: dict[str, object] = {"limit": query.limit + 1}
    if query.sort_field == RELEVANCE:
        assert tsquery is not None  # parse_sort allows relevance only with a search
        sql = _RANKED
        params |= {"q": tsquery, "candidates": RANKED_CANDIDATES}
        if query.after is not None:
            sql += " WHERE (score, id) > (%(after)s, %(after_id)s)"
            params |= {"after": query.after[0], "after_id": query.after[1]}
        return sql + " ORDER BY score, id LIMIT %(limit)s", params
    where: list[str] = []
    if tsquery is not None:
        where.append(_MATCHES)
        params["q"] = tsquery
    key = _SORT_KEYS[query.sort_field]
    if query.after is not None:
        op = "<" if query.descending else ">"
        where.append(f"({key}, id) {op} ({_AFTER_KEYS[query.sort_field]}, %(after_id)s)")
        params |= {"after": query.after[0], "after_id": query.after[1]}
    direction = "DESC" if query.descending else "ASC"
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + f" ORDER BY {key} {direction}, id {direction} LIMIT %(limit)s", params


def page_rows(conn: Connection, query: ListQuery) -> list[Row]:
    """The rows of one page (limit + 1 of them, to know whether more exist)."""
    tsquery = tsquery_text(query.terms) if query.terms else None
    if query.terms is not None and tsquery is None:
        return []  # a search without a word in it matches nothing
    sql, params = build_list_sql(query, tsquery)
    return conn.execute(sql, params).fetchall()


def _fetch(conn: Connection, item_id: int) -> Item:
    row = conn.execute(_GET, {"id": item_id}).fetchone()
    if row is None:
        raise NotFound(f"item {item_id} does not exist")
    return item_from_row(row)


def _at_version(item_id: int, expected: Collection[int] | None) -> dict[str, object]:
    if expected is None:
        return {"id": item_id, "versions": None}
    return {"id": item_id, "versions": sorted(v for v in expected if 0 <= v <= _MAX_VERSION)}


def _refused(conn: Connection, item_id: int) -> Exception:
    """Why a conditional write changed no row: the item is gone, or at another version.

    The write's own statement saw the row it refused (a committed version, not
    one of ``expected``); a version read now can only be newer, never one the
    client could have read before the write began.
    """
    row = conn.execute(_VERSION, {"id": item_id}).fetchone()
    if row is None:
        return NotFound(f"item {item_id} does not exist")
    return VersionConflict(row["version"])


class PostgresItemStore(StoreReads):
    fetch = staticmethod(_fetch)
    rows = staticmethod(page_rows)

    async def create(self, new: ItemCreate) -> Item:
        params = {"name": new.name, "description": new.description, "tags": tags_json(new.tags)}

        def insert(conn: Connection) -> Item:
            item = item_from_row(conn.execute(_INSERT, {**params, "stamp": now_iso()}).fetchone())
            self.changed(conn, "created", item.id, item.version)
            return item

        return await self.db.write(insert)

    async def update(
        self, item_id: int, patch: ItemPatch, expected: Collection[int] | None
    ) -> Item:
        changes = patch_changes(patch)
        params = {field: changes.get(field) for field in ("name", "description", "tags")}
        params |= _at_version(item_id, expected)

        def apply(conn: Connection) -> Item:
            row = conn.execute(_UPDATE, {**params, "stamp": now_iso()}).fetchone()
            if row is None:
                raise _refused(conn, item_id)
            item = item_from_row(row)
            self.changed(conn, "updated", item.id, item.version)
            return item

        return await self.db.write(apply)

    async def delete(self, item_id: int, expected: Collection[int] | None) -> None:
        params = _at_version(item_id, expected)

        def remove(conn: Connection) -> None:
            row = conn.execute(_DELETE, params).fetchone()
            if row is None:
                raise _refused(conn, item_id)
            self.changed(conn, "deleted", item_id, row["version"])

        await self.db.write(remove)
