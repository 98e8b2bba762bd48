"""The items schema across versions: a database an older onebin made, opened by this one."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from starlette.testclient import TestClient

from onebin.compose import build_app, open_database
from onebin.items import app as items_app
from onebin.items.listing import RANKED_CANDIDATES, encode_cursor, parse_list_query
from onebin.items.repository import MIGRATIONS
from onebin.items.sqlite import page_rows
from onebin.store.connection import connect
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.store.tokens import TokenStore
from tests.conftest import app_context
from tests.items.test_api import auth

# About SQLite alone: an upgrade of its file, and its two search plans.
pytestmark = pytest.mark.parametrize("engine", ["sqlite"])

# Migration items/1 as onebin shipped it before the full-text index (commit 4b52aef):
# a released migration is never edited, so this is what real databases hold.
ITEMS_V1 = MIGRATIONS[0]
OLD_ITEMS = [
    ("Claw hammer", "Forged steel head", '["tool"]'),
    ("Café table", "Round, oak", '["furniture", "garden"]'),
    ("Trowel", "", '["garden"]'),
]


def make_v1_database(settings) -> None:
    with SQLiteDatabase(settings.database_path, [*TOKEN_MIGRATIONS, ITEMS_V1]) as old:
        old.write_sync(
            lambda conn: conn.executemany(
                "INSERT INTO items (name, description, tags, created_at, updated_at) "
                "VALUES (?, ?, ?, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
                OLD_ITEMS,
            )
        )


def names(client: TestClient, q: str) -> list[str]:
    response = client.get("/api/items", params={"q": q, "sort": "name"})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_repository_upgrade_indexes_items_written_before_search_existed(settings):
    make_v1_database(settings)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "items" in tables
    assert "items_fts" not in tables
    db = open_database(settings, items_app)
    try:
        token, _ = TokenStore(db).create("tests")
        client = TestClient(build_app(app_context(settings, db), items_app))
        assert names(client, "ham") == ["Claw hammer"]
        assert names(client, "cafe") == ["Café table"]
        assert names(client, "garden") == ["Café table", "Trowel"]

        # The index follows changes made after the upgrade.
        created = client.post("/api/items", json={"name": "Garden hose"}, headers=auth(token))
        assert created.status_code == 201
        old_ids = {item["name"]: item["id"] for item in client.get("/api/items").json()["items"]}
        renamed = client.patch(
            f"/api/items/{old_ids['Trowel']}", json={"tags": ["tool"]}, headers=auth(token)
        )
        assert renamed.status_code == 200
        deleted = client.delete(f"/api/items/{old_ids['Claw hammer']}", headers=auth(token))
        assert deleted.status_code == 204
        assert names(client, "garden") == ["Café table", "Garden hose"]
        assert names(client, "tool") == ["Trowel"]
        assert names(client, "hammer") == []
    finally:
        db.close()
    with closing(sqlite3.connect(settings.database_path)) as conn:
        # FTS5's own check that the index holds exactly what the items table does.
        conn.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")


def seed_matches(db: SQLiteDatabase, count: int) -> None:
    """``count`` items named "hammer <n>" in shuffled name order, and a few others."""
    db.write_sync(
        lambda conn: conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO items (name, description, tags, created_at, updated_at) "
            "SELECT CASE WHEN i % 50 = 0 THEN 'saw ' ELSE 'hammer ' END || ((i * 7919) % ?), "
            "'', '[]', printf('2026-01-01T00:00:%06d', i), printf('2026-01-01T00:00:%06d', i) "
            "FROM n",
            (count, count),
        )
    )


@pytest.mark.parametrize(("count", "plan"), [(300, "id IN"), (RANKED_CANDIDATES * 2, "+id IN")])
@pytest.mark.parametrize("sort", ["name", "-name", "-created_at", "updated_at"])
def test_page_rows_pages_a_search_in_order_with_either_plan(db, count, plan, sort):
    seed_matches(db, count)
    field = sort.removeprefix("-")
    direction = "DESC" if sort.startswith("-") else "ASC"
    order = f"ORDER BY {field} {direction}, id {direction}"
    expected = db.read_sync(
        lambda conn: [
            row["id"]
            for row in conn.execute(f"SELECT id FROM items WHERE name LIKE 'hammer %' {order}")
        ]
    )
    statements: list[str] = []
    seen: list[int] = []
    params = {"q": "hamm", "sort": sort, "limit": "100"}
    with closing(connect(db.path)) as conn:
        conn.set_trace_callback(statements.append)
        while True:
            query = parse_list_query(params)
            rows = page_rows(conn, query)
            seen += [row["id"] for row in rows[: query.limit]]
            if len(rows) <= query.limit:
                break
            last = rows[query.limit - 1]
            params["cursor"] = encode_cursor(query.sort, last[field], last["id"])
    assert seen == expected
    pages = [s for s in statements if s.startswith("SELECT * FROM items WHERE")]
    assert pages
    assert all(f" {plan} (SELECT rowid" in f" {s}" for s in pages)
