"""Items in SQLite: the ``ItemStore`` of the ``sqlite`` engine, with FTS5 search.

Search uses the full-text index (FTS5). With ``q`` the default order is relevance
(bm25: a hit in the name weighs most, then tags, then the description). Ranking
costs a few microseconds per matching row, so a word found in most of a million
items would take seconds to rank in full: relevance ranks the newest
``RANKED_CANDIDATES`` matches. The bound covers the scoring, not everything: bm25
also counts, once per search, every item holding each word (its IDF: 23 ms for a
word in 90% of a million items), and a word of four or more letters is a prefix the
index has no shortcut for (``prefix='2 3'``), whose matches FTS5 collects in full
(34 ms for a word in 56%).

A search in another order has two plans. With few matches, the matching rows are
fetched and sorted. With many, that took 0.9 s for a word in 90% of a million items,
so the sort column's index is walked instead, in order, keeping rows whose id is
among the matches (collected once, 0.12 s for that word), until the page is full:
about rows/matches index steps per row of the page, the whole index at worst, when
the matches all sit at its far end. The caller picks by counting matches up to
``RANKED_CANDIDATES`` (``COUNT_MATCHES``), which is cheap because the count stops
there.

Writes are serialised by SQLite (one writer at a time), so a conditional write may
read the current version and then write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from onebin import match_expression
from onebin.items.listing import RANKED_CANDIDATES, RELEVANCE, ListQuery
from onebin.items.models import Item, ItemCreate, ItemPatch, NotFound, VersionConflict
from onebin.items.repository import (
    StoreReads,
    item_from_row,
    now_iso,
    patch_changes,
    tags_json,
)

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


def page_rows(conn: sqlite3.Connection, query: ListQuery) -> list[sqlite3.Row]:
    """The rows of one page (limit + 1 of them, to know whether more exist)."""
    many = False
    if query.terms and query.sort_field != RELEVANCE:
        expression = match_expression(query.terms)
        bound = RANKED_CANDIDATES + 1
        many = conn.execute(COUNT_MATCHES, (expression, bound)).fetchone()[0] >= bound
    sql, params = build_list_sql(query, many_matches=many)
    return conn.execute(sql, params).fetchall()


def _fetch(conn: sqlite3.Connection, item_id: int) -> Item:
    row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise NotFound(f"item {item_id} does not exist")
    return item_from_row(row)


def _check_version(current: Item, expected: Collection[int] | None) -> None:
    if expected is not None and current.version not in expected:
        raise VersionConflict(current.version)


class SQLiteItemStore(StoreReads):
    fetch = staticmethod(_fetch)
    rows = staticmethod(page_rows)

    async def create(self, new: ItemCreate) -> Item:
        def insert(conn: sqlite3.Connection) -> Item:
            stamp = now_iso()
            cursor = conn.execute(
                "INSERT INTO items (name, description, tags, created_at, updated_at, version) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                (new.name, new.description, tags_json(new.tags), stamp, stamp),
            )
            item = _fetch(conn, cursor.lastrowid or 0)
            self.changed(conn, "created", item.id, item.version)
            return item

        return await self.db.write(insert)

    async def update(
        self, item_id: int, patch: ItemPatch, expected: Collection[int] | None
    ) -> Item:
        def apply(conn: sqlite3.Connection) -> Item:
            current = _fetch(conn, item_id)
            _check_version(current, expected)
            changes = patch_changes(patch)
            conn.execute(
                "UPDATE items SET name = ?, description = ?, tags = ?, updated_at = ?, "
                "version = version + 1 WHERE id = ?",
                (
                    changes.get("name", current.name),
                    changes.get("description", current.description),
                    changes.get("tags", tags_json(current.tags)),
                    now_iso(),
                    item_id,
                ),
            )
            item = _fetch(conn, item_id)
            self.changed(conn, "updated", item.id, item.version)
            return item

        return await self.db.write(apply)

    async def delete(self, item_id: int, expected: Collection[int] | None) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            current = _fetch(conn, item_id)
            _check_version(current, expected)
            conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            self.changed(conn, "deleted", item_id, current.version)

        await self.db.write(remove)
