"""The items tests run on both engines: SQLite in a temp data dir, and PostgreSQL on
the session's server (tests/postgres.py).

``engine`` parametrises ``settings``, and through it ``db``, ``token`` and ``client``
of tests/conftest.py, so every test that uses them runs once per engine (ids
``[sqlite]``, ``[postgresql]``). A module that is about one engine alone pins it
with ``pytestmark = pytest.mark.parametrize("engine", [...])``.

On PostgreSQL the items tests share one database, emptied before each test
(``TRUNCATE ... RESTART IDENTITY``: ids count from 1 again, as in a new database).
A new database per test costs 0.5 s of ``CREATE``/``DROP DATABASE`` with fsync on,
for ~200 tests; the schema and its migrations are the same either way, and every
test still opens the database through ``open_database`` as a server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from onebin.config import Settings
from tests.postgres import PostgresServer

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def items_database(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def empty_items_database(postgres_server: PostgresServer, items_database: str) -> str:
    """The shared database with no items and no tokens (and no tables before first use)."""
    if not postgres_server.running:  # a test stopped it and failed before restarting
        postgres_server.start()
    with closing(psycopg.connect(items_database, autocommit=True)) as conn:
        row = conn.execute("SELECT to_regclass('items') IS NOT NULL").fetchone()
        if row is not None and row[0]:
            conn.execute("TRUNCATE items, tokens, onebin_events RESTART IDENTITY")
    return items_database


@pytest.fixture
def settings(engine: str, data_dir: Path, request: pytest.FixtureRequest) -> Settings:
    if engine == "postgresql":
        # `onebin serve` makes the data directory (its lock and certificates live
        # there) whatever the engine; on SQLite, opening the database does.
        data_dir.mkdir()
        url = request.getfixturevalue("empty_items_database")
        return Settings(data_dir=data_dir, database_url=url)
    return Settings(data_dir=data_dir)
