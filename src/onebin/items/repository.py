"""Items in the database: the store interface and its SQLite implementation.

The interface is what the API depends on; a PostgreSQL implementation will satisfy
the same Protocol. The SQL sticks to what both engines accept (row-value
comparisons, ``LIMIT``, ISO-8601 text timestamps that sort as strings).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from onebin import Database, Migration, match_expression
from onebin.items.listing import (
    COUNT_MATCHES,
    RANKED_CANDIDATES,
    RELEVANCE,
    ListQuery,
    build_list_sql,
    encode_cursor,
)
from onebin.items.models import (
    Item,
    ItemCreate,
    ItemPage,
    ItemPatch,
    NotFound,
    VersionConflict,
)

MIGRATIONS = (
    Migration(
        "items",
        1,
        "items table",
        """
        CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL COLLATE NOCASE,
            description TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX items_created ON items (created_at, id);
        CREATE INDEX items_updated ON items (updated_at, id);
        CREATE INDEX items_name ON items (name, id)
        """,
    ),
    Migration(
        "items",
        2,
        "full-text index",
        # An external-content FTS5 index: the text lives once, in items; triggers
        # keep the index in step inside the same transaction as every change.
        """
        CREATE VIRTUAL TABLE items_fts USING fts5(
            name, description, tags,
            content='items', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2', prefix='2 3'
        );
        CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
            INSERT INTO items_fts (rowid, name, description, tags)
            VALUES (new.id, new.name, new.description, new.tags);
        END;
        CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
            INSERT INTO items_fts (items_fts, rowid, name, description, tags)
            VALUES ('delete', old.id, old.name, old.description, old.tags);
        END;
        CREATE TRIGGER items_fts_update AFTER UPDATE OF name, description, tags ON items BEGIN
            INSERT INTO items_fts (items_fts, rowid, name, description, tags)
            VALUES ('delete', old.id, old.name, old.description, old.tags);
            INSERT INTO items_fts (rowid, name, description, tags)
            VALUES (new.id, new.name, new.description, new.tags);
        END;
        INSERT INTO items_fts (items_fts) VALUES ('rebuild')
        """,
    ),
)


class ItemStore(Protocol):
    """What the items API needs from a database.

    Missing rows raise ``NotFound``; a write whose ``expected`` versions (from
    ``If-Match``; None means unconditional) do not include the current one raises
    ``VersionConflict`` and changes nothing. A write that
    returns has been committed durably. Each call is its own transaction.
    """

    async def get(self, item_id: int) -> Item: ...

    async def list(self, query: ListQuery) -> ItemPage: ...

    async def create(self, new: ItemCreate) -> Item: ...

    async def update(
        self, item_id: int, patch: ItemPatch, expected: Collection[int] | None
    ) -> Item: ...

    async def delete(self, item_id: int, expected: Collection[int] | None) -> None: ...


def now_iso() -> str:
    """UTC, fixed width, millisecond precision: sorts correctly as text."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _item(row: sqlite3.Row) -> Item:
    return Item(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        tags=msgspec.json.decode(row["tags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


def _fetch(conn: sqlite3.Connection, item_id: int) -> Item:
    row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise NotFound(f"item {item_id} does not exist")
    return _item(row)


def page_rows(conn: sqlite3.Connection, query: ListQuery) -> list[sqlite3.Row]:
    """The rows of one page (limit + 1 of them, to know whether more exist)."""
    many = False
    if query.terms and query.sort_field != RELEVANCE:
        expression = match_expression(query.terms)
        bound = RANKED_CANDIDATES + 1
        many = conn.execute(COUNT_MATCHES, (expression, bound)).fetchone()[0] >= bound
    sql, params = build_list_sql(query, many_matches=many)
    return conn.execute(sql, params).fetchall()


def _check_version(current: Item, expected: Collection[int] | None) -> None:
    if expected is not None and current.version not in expected:
        raise VersionConflict(current.version)


class SQLiteItemStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, item_id: int) -> Item:
        return await self.db.lookup(lambda conn: _fetch(conn, item_id))

    async def list(self, query: ListQuery) -> ItemPage:
        if query.matches_nothing:
            return ItemPage(items=[], next_cursor=None, limit=query.limit)
        # A page in one of the indexed orders costs at most `limit` index steps and
        # stays on the loop; a search can touch many rows and goes to a reader thread.
        read = self.db.lookup if query.terms is None else self.db.read
        rows = await read(lambda conn: page_rows(conn, query))
        items = [_item(row) for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            key = "score" if query.sort_field == RELEVANCE else query.sort_field
            next_cursor = encode_cursor(query.sort, last[key], last["id"])
        return ItemPage(items=items, next_cursor=next_cursor, limit=query.limit)

    async def create(self, new: ItemCreate) -> Item:
        def insert(conn: sqlite3.Connection) -> Item:
            stamp = now_iso()
            cursor = conn.execute(
                "INSERT INTO items (name, description, tags, created_at, updated_at, version) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                (new.name, new.description, msgspec.json.encode(new.tags).decode(), stamp, stamp),
            )
            return _fetch(conn, cursor.lastrowid or 0)

        return await self.db.write(insert)

    async def update(
        self, item_id: int, patch: ItemPatch, expected: Collection[int] | None
    ) -> Item:
        def apply(conn: sqlite3.Connection) -> Item:
            current = _fetch(conn, item_id)
            _check_version(current, expected)
            changes = {
                key: value
                for key, value in msgspec.structs.asdict(patch).items()
                if value is not msgspec.UNSET
            }
            conn.execute(
                "UPDATE items SET name = ?, description = ?, tags = ?, updated_at = ?, "
                "version = version + 1 WHERE id = ?",
                (
                    changes.get("name", current.name),
                    changes.get("description", current.description),
                    msgspec.json.encode(changes.get("tags", current.tags)).decode(),
                    now_iso(),
                    item_id,
                ),
            )
            return _fetch(conn, item_id)

        return await self.db.write(apply)

    async def delete(self, item_id: int, expected: Collection[int] | None) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            _check_version(_fetch(conn, item_id), expected)
            conn.execute("DELETE FROM items WHERE id = ?", (item_id,))

        await self.db.write(remove)
