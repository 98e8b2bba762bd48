"""Copying a database between engines, on real SQLite files and the real PostgreSQL:
what is copied, what is verified, and what is refused."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from onebin.compose import app_migrations
from onebin.errors import StoreError
from onebin.events import Events
from onebin.items import SEMANTIC, item_store
from onebin.items import app as items_app
from onebin.items.listing import ListQuery
from onebin.items.models import ItemCreate
from onebin.jobs.queue import JobQueue
from onebin.semantic.search import SemanticSearch
from onebin.store.checksum import Checksum
from onebin.store.database import Engine
from onebin.store.migrations import Migration
from onebin.store.notices import notices_for
from onebin.store.postgres import PostgresDatabase
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import TokenStore
from onebin.store.transfer import (
    TargetNotEmpty,
    VerificationFailed,
    check_empty_dir,
    copy_to_postgresql,
    copy_to_sqlite,
    format_report,
)

MIGRATIONS = app_migrations(items_app)
# A generated app's kind of table: no key, no id, portable SQL.
WORDS = [
    *MIGRATIONS[:2],
    Migration("words", 1, "words", "CREATE TABLE words (word TEXT NOT NULL, n REAL)"),
]


def items_of(db):
    """The items store of ``db``, with an event log nothing follows."""
    search = SemanticSearch(SEMANTIC, db, JobQueue(db))
    return item_store(db, Events(db, notices_for(db, ())), search)


def test_verification_failure_names_the_table_and_both_sides():
    error = VerificationFailed("items", Checksum(2, 1), Checksum(2, 2))
    assert str(error).startswith("table items: the copy does not match its source")
    assert "nothing was copied" in str(error)


# Copying, on real databases.


def sqlite_db(path: Path, migrations=MIGRATIONS) -> SQLiteDatabase:
    db = SQLiteDatabase(path, migrations)
    db.open()
    return db


def add_items(db: Engine, *names: str) -> list[int]:
    async def create() -> list[int]:
        store = items_of(db)
        made = [
            await store.create(ItemCreate(name=name, description=f"about {name}", tags=["t"]))
            for name in names
        ]
        return [item.id for item in made]

    return asyncio.run(create())


def search(db: Engine, word: str) -> list[str]:
    page = asyncio.run(items_of(db).list(ListQuery(terms=(word,))))
    return sorted(item.name for item in page.items)


def rows(url: str, query: str) -> list[tuple]:
    with closing(psycopg.connect(url)) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A SQLite database with items (one deleted, so ids have a gap) and two tokens."""
    path = tmp_path / "data" / "onebin.sqlite3"
    db = sqlite_db(path)
    try:
        ids = add_items(db, "Café crème", "Tea", "Gone", "Water")
        asyncio.run(items_of(db).delete(ids[2], None))
        TokenStore(db).create("kept")
        TokenStore(db).create("old")
        TokenStore(db).revoke("old")
    finally:
        db.close()
    return path


def test_copy_to_postgresql_copies_every_table_and_verifies_it(source, postgres_url):
    report = copy_to_postgresql(source, postgres_url, MIGRATIONS)
    copied = {t.name: t.rows for t in report.tables}
    assert copied["items"] == 3
    assert copied["tokens"] == 2
    assert copied["schema_migrations"] == len(MIGRATIONS)
    with closing(sqlite3.connect(source)) as conn:
        tables = conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%' "
            "AND name NOT LIKE 'sqlite%' AND name NOT LIKE 'items_fts%'"
        ).fetchall()
    assert sorted(copied) == sorted(name for (name,) in tables)  # every table, FTS aside
    with closing(sqlite3.connect(source)) as conn:
        ledger = conn.execute("SELECT * FROM schema_migrations ORDER BY 1, 2").fetchall()
        tokens = conn.execute("SELECT * FROM tokens ORDER BY id").fetchall()
    assert rows(postgres_url, "SELECT * FROM schema_migrations ORDER BY 1, 2") == ledger
    assert rows(postgres_url, "SELECT * FROM tokens ORDER BY id") == tokens
    text = format_report(report)
    assert "items" in text
    assert f"{len(copied)} tables, {sum(copied.values())} rows: counts and checksums" in text


def test_search_and_new_ids_work_on_postgresql_after_the_copy(source, postgres_url):
    copy_to_postgresql(source, postgres_url, MIGRATIONS)
    db = PostgresDatabase(postgres_url, MIGRATIONS)
    db.open()
    try:
        assert search(db, "cafe") == ["Café crème"]  # the tsvector was generated
        assert search(db, "about") == ["Café crème", "Tea", "Water"]
        [new] = add_items(db, "After")
        assert new == 5  # past the copied max id (4), not 1
        _, record = TokenStore(db).create("new")
        assert record.id == 3
    finally:
        db.close()


def test_a_target_with_rows_is_refused_and_left_as_it_was(source, postgres_url):
    db = PostgresDatabase(postgres_url, MIGRATIONS)
    db.open()
    try:
        TokenStore(db).create("theirs")
    finally:
        db.close()
    with pytest.raises(TargetNotEmpty, match="is not empty: table tokens has rows"):
        copy_to_postgresql(source, postgres_url, MIGRATIONS)
    assert rows(postgres_url, "SELECT name FROM tokens") == [("theirs",)]
    assert rows(postgres_url, "SELECT count(*) FROM items") == [(0,)]


def test_a_target_with_other_tables_is_refused_before_migrating(source, postgres_url):
    with closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        conn.execute("CREATE TABLE customers (id int)")
    with pytest.raises(TargetNotEmpty, match=r"tables this app's migrations do not make"):
        copy_to_postgresql(source, postgres_url, MIGRATIONS)
    assert rows(postgres_url, "SELECT to_regclass('items')") == [(None,)]


def test_a_target_a_server_already_migrated_is_empty_enough(source, postgres_url):
    PostgresDatabase(postgres_url, MIGRATIONS).open()
    report = copy_to_postgresql(source, postgres_url, MIGRATIONS)
    assert {t.name: t.rows for t in report.tables}["items"] == 3


def test_a_copy_that_differs_is_rolled_back(source, postgres_url):
    # A trigger on the target changes what arrives: the checksums catch it.
    PostgresDatabase(postgres_url, MIGRATIONS).open()
    with closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        conn.execute(
            "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;"
            "CREATE TRIGGER shout BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION shout()"
        )
    with pytest.raises(VerificationFailed, match="table items: the copy does not match") as err:
        copy_to_postgresql(source, postgres_url, MIGRATIONS)
    assert err.value.source.rows == err.value.target.rows == 3
    assert rows(postgres_url, "SELECT count(*) FROM items") == [(0,)]
    assert rows(postgres_url, "SELECT count(*) FROM tokens") == [(0,)]


def test_round_trip_back_to_sqlite_keeps_every_row_and_search(source, postgres_url, tmp_path):
    there = copy_to_postgresql(source, postgres_url, MIGRATIONS)
    target = tmp_path / "back" / "onebin.sqlite3"
    target.parent.mkdir()
    back = copy_to_sqlite(postgres_url, target, MIGRATIONS)
    assert back.tables == there.tables  # same counts, same checksums
    db = sqlite_db(target)
    try:
        assert search(db, "cafe") == ["Café crème"]  # FTS5 filled by its triggers
        assert add_items(db, "After") == [5]  # AUTOINCREMENT past the copied ids
        assert [t.name for t in TokenStore(db).list()] == ["kept", "old"]
    finally:
        db.close()


def test_tables_without_a_key_and_with_floats_copy_both_ways(tmp_path, postgres_url):
    path = tmp_path / "words.sqlite3"
    db = sqlite_db(path, WORDS)
    try:
        db.write_sync(
            lambda c: c.executemany(
                "INSERT INTO words VALUES (?, ?)", [("a", 0.1), ("a", 0.1), ("b", None)]
            )
        )
    finally:
        db.close()
    there = copy_to_postgresql(path, postgres_url, WORDS)
    assert {t.name: t.rows for t in there.tables}["words"] == 3
    back = tmp_path / "back.sqlite3"
    assert copy_to_sqlite(postgres_url, back, WORDS).tables == there.tables


def test_certificates_in_postgresql_are_copied_back_and_noted(postgres_url, tmp_path):
    PostgresDatabase(postgres_url, MIGRATIONS).open()
    with closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        conn.execute("INSERT INTO acme_accounts VALUES ('https://ca/dir', 'KEY')")
        conn.execute(
            "INSERT INTO acme_leases VALUES ('https://ca/dir', 'host-1', '2030-01-02 03:04:05+00')"
        )
    target = tmp_path / "back" / "onebin.sqlite3"
    target.parent.mkdir()
    report = copy_to_sqlite(postgres_url, target, MIGRATIONS)
    assert "a SQLite run keeps them as files" in format_report(report)
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("SELECT * FROM acme_accounts").fetchall() == [("https://ca/dir", "KEY")]
        assert conn.execute("SELECT expires_at FROM acme_leases").fetchall() == [
            ("2030-01-02T03:04:05+00:00",)
        ]


def test_a_failed_copy_back_leaves_no_file(postgres_url, tmp_path):
    PostgresDatabase(postgres_url, MIGRATIONS).open()
    with closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        conn.execute("ALTER TABLE items ADD COLUMN colour TEXT")  # the SQLite schema lacks it
    target = tmp_path / "back" / "onebin.sqlite3"
    target.parent.mkdir()
    with pytest.raises(StoreError, match="has no column colour in table items"):
        copy_to_sqlite(postgres_url, target, MIGRATIONS)
    assert list(target.parent.iterdir()) == []


def test_a_data_directory_with_anything_in_it_is_refused(tmp_path):
    (tmp_path / "onebin.lock").touch()
    check_empty_dir(tmp_path)  # the lock alone is fine
    check_empty_dir(tmp_path / "new")
    (tmp_path / "onebin.sqlite3").touch()
    with pytest.raises(TargetNotEmpty, match=r"is not empty \(onebin.sqlite3\)"):
        check_empty_dir(tmp_path)
