"""The engine conformance suite: every test runs against SQLite AND a real PostgreSQL.

An engine is done when this file passes for it, not when its own tests do
(../shared/notes/architecture.md). Only the SQL dialect may differ between the
two halves of a test (``sql_for``); what the engine does with it may not.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psycopg
import pytest

from onebin.app import App
from onebin.compose import app_migrations
from onebin.errors import QueryTimeout, StoreError
from onebin.store.database import Engine
from onebin.store.migrations import Migration
from onebin.store.postgres import PostgresDatabase
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import TokenStore

THINGS = Migration(
    "demo",
    1,
    "things",
    "CREATE TABLE things (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)",
    postgresql="CREATE TABLE things "
    "(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
)
# A migration with an effect that shows how often it ran: a second run would break
# the UNIQUE name (a failed start) or add a second row.
SEED = Migration(
    "demo",
    2,
    "seed",
    "INSERT INTO things (name) VALUES ('seed')",
    # Slow enough that starters racing each other overlap inside it.
    postgresql="SELECT pg_sleep(0.3); INSERT INTO things (name) VALUES ('seed')",
)
# A query that runs for seconds on each engine.
SLOW_QUERY = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(10)",
}
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)

Factory = Callable[..., Engine]


def sql_for(db: Engine, sql: str) -> str:
    """``sql`` with the engine's parameter mark (tests write ``?``)."""
    return sql.replace("?", "%s") if db.engine == "postgresql" else sql


@pytest.fixture(params=["sqlite", "postgresql"])
def make_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Engines (not yet open) on one database: the same file or the same PostgreSQL
    database each time, so a test can reopen it with other migrations."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    made: list[Engine] = []

    def make(migrations: Sequence[Migration] = (THINGS,), **options: float) -> Engine:
        db: Engine
        if url is None:
            db = SQLiteDatabase(tmp_path / "db.sqlite3", migrations, **options)  # type: ignore[arg-type]
        else:
            db = PostgresDatabase(url, migrations, **options)  # type: ignore[arg-type]
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()


@pytest.fixture
def engine(make_engine: Factory) -> Engine:
    """An open engine with the ``things`` table."""
    db = make_engine()
    db.open()
    return db


def add(db: Engine, name: str) -> Callable[..., int]:
    def insert(conn) -> int:
        return conn.execute(
            sql_for(db, "INSERT INTO things (name) VALUES (?) RETURNING id"), (name,)
        ).fetchone()["id"]

    return insert


def names(db: Engine) -> list[str]:
    return db.read_sync(
        lambda conn: [row["name"] for row in conn.execute("SELECT name FROM things ORDER BY id")]
    )


def test_write_lookup_and_read_return_rows_by_column_name(engine):
    first = asyncio.run(engine.write(add(engine, "first")))
    second = asyncio.run(engine.write(add(engine, "second")))
    assert second > first

    def one(conn):
        return conn.execute(
            sql_for(engine, "SELECT * FROM things WHERE id = ?"), (first,)
        ).fetchone()

    row = asyncio.run(engine.lookup(one))
    assert (row["id"], row["name"]) == (first, "first")
    listed = asyncio.run(
        engine.read(lambda conn: conn.execute("SELECT name FROM things ORDER BY id").fetchall())
    )
    assert [r["name"] for r in listed] == ["first", "second"]


def test_sync_write_and_read_for_the_command_line(engine):
    engine.write_sync(add(engine, "cli"))
    assert names(engine) == ["cli"]


def test_a_write_that_raises_leaves_nothing_and_its_error_passes_unchanged(engine):
    def half(conn) -> None:
        add(engine, "half")(conn)
        raise ValueError("changed my mind")

    async def scenario() -> list[str]:
        # One event loop, as in a server: SQLite's group writer lives on it.
        with pytest.raises(ValueError, match="changed my mind"):
            await engine.write(half)
        assert names(engine) == []
        await engine.write(add(engine, "after"))  # the engine carries on
        return names(engine)

    assert asyncio.run(scenario()) == ["after"]


def test_a_constraint_violation_is_the_drivers_integrity_error_and_keeps_nothing(engine):
    engine.write_sync(add(engine, "taken"))

    def twice(conn) -> None:
        add(engine, "other")(conn)
        add(engine, "taken")(conn)

    with pytest.raises(INTEGRITY_ERRORS):
        asyncio.run(engine.write(twice))
    assert names(engine) == ["taken"]


def test_migrations_are_applied_once_and_recorded(make_engine):
    first = make_engine([THINGS, SEED])
    first.open()
    first.close()
    again = make_engine([THINGS, SEED])
    again.open()
    assert names(again) == ["seed"]
    ledger = again.read_sync(
        lambda conn: [
            (row["component"], row["version"], row["name"])
            for row in conn.execute(
                "SELECT component, version, name FROM schema_migrations ORDER BY version"
            )
        ]
    )
    assert ledger == [("demo", 1, "things"), ("demo", 2, "seed")]


def test_a_database_migrated_by_a_newer_program_is_refused(make_engine):
    newer = make_engine([THINGS, SEED])
    newer.open()
    newer.close()
    older = make_engine([THINGS])
    with pytest.raises(StoreError, match=r"migration demo/2 \(seed\).*newer version"):
        older.open()


def test_a_failed_migration_applies_none_of_the_pending_ones(make_engine):
    make_engine([THINGS]).open()
    broken = Migration("demo", 3, "broken", "CREATE TABLE fine (id INTEGER); CREATE TABLE (")
    with pytest.raises(StoreError):
        make_engine([THINGS, SEED, broken]).open()
    db = make_engine([THINGS])
    db.open()
    assert names(db) == []  # SEED was fine, but it came with the broken one


def test_starters_at_once_migrate_exactly_once(make_engine):
    """Replicas (or workers) starting together: every one starts, the seed runs once."""
    starters = 6
    engines = [make_engine([THINGS, SEED]) for _ in range(starters)]
    together = threading.Barrier(starters)
    failures: list[BaseException] = []

    def start(db: Engine) -> None:
        together.wait()
        try:
            db.open()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start, args=(db,)) for db in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert names(engines[0]) == ["seed"]


def test_a_query_past_its_deadline_is_stopped_with_query_timeout(make_engine):
    db = make_engine(query_timeout=0.3)
    db.open()
    slow = SLOW_QUERY[db.engine]
    with pytest.raises(QueryTimeout):
        asyncio.run(db.read(lambda conn: conn.execute(slow).fetchall()))
    with pytest.raises(QueryTimeout):
        db.read_sync(lambda conn: conn.execute(slow).fetchall())
    assert asyncio.run(db.read(lambda conn: conn.execute("SELECT 1 AS one").fetchone()["one"])) == 1


def test_a_write_past_its_deadline_is_stopped_and_keeps_nothing(make_engine):
    db = make_engine(query_timeout=0.3)
    db.open()
    slow = SLOW_QUERY[db.engine]

    def slow_write(conn) -> None:
        add(db, "before the slow part")(conn)
        conn.execute(slow).fetchall()

    with pytest.raises(QueryTimeout):
        asyncio.run(db.write(slow_write))
    assert names(db) == []


def test_tokens_create_verify_revoke_and_replace(make_engine):
    db = make_engine(app_migrations(App(name="bare")))  # onebin's tables alone
    db.open()
    store = TokenStore(db)
    secret, record = store.create("ci")
    assert asyncio.run(store.verify(secret)) == record
    assert asyncio.run(store.verify(secret + "x")) is None
    with pytest.raises(StoreError, match="already exists"):
        store.create("ci")
    replacement, newer = store.create("ci", replace=True)
    assert asyncio.run(store.verify(secret)) is None
    assert asyncio.run(store.verify(replacement)) == newer
    revoked = store.revoke("ci")
    assert revoked.id == newer.id
    assert revoked.revoked_at is not None
    assert asyncio.run(store.verify(replacement)) is None
    assert [(r.name, r.revoked_at is None) for r in store.list()] == [("ci", False), ("ci", False)]
    again, _ = store.create("ci")  # a revoked name can be used again
    assert asyncio.run(store.verify(again)) is not None


def test_a_database_function_runs_in_its_callers_context(engine):
    """What an engine's thread logs carries the request's id (``onebin.logs``), so a
    fault found there is found by that id in the log."""
    from onebin.logs import request_id

    seen = []

    def noted(conn):
        seen.append(request_id.get())
        return conn.execute("SELECT 1").fetchone()

    async def calls() -> None:
        request_id.set("req-42")
        await engine.lookup(noted)
        await engine.read(noted)
        await engine.write(noted)

    asyncio.run(calls())
    assert seen == ["req-42"] * 3
