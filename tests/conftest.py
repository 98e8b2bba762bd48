from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from onebin.app import App, Context
from onebin.compose import build_app, make_context, open_database
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.limiter import SharedFailureLimiter
from onebin.store.database import Engine
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import TokenStore
from tests.postgres import postgres_server, postgres_url, private_postgres

# A real PostgreSQL (tests/postgres.py), started by the first test that asks for one.
__all__ = ["postgres_server", "postgres_url", "private_postgres"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_settings(request: pytest.FixtureRequest, data_dir: Path) -> Settings:
    """Settings on each engine: SQLite in the data directory, and a database of its own
    on the session's PostgreSQL."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(data_dir=data_dir, database_url=url)


@pytest.fixture
def engine_db(engine_settings: Settings) -> Iterator[Engine]:
    """The database of ``engine_settings``, migrated as a server migrates it."""
    db = open_database(engine_settings, items_app)
    yield db
    db.close()


@pytest.fixture
def db(settings: Settings) -> Iterator[SQLiteDatabase]:
    database = open_database(settings, items_app)
    yield database
    database.close()


@pytest.fixture
def token(db: SQLiteDatabase) -> str:
    secret, _ = TokenStore(db).create("tests")
    return secret


def app_context(settings: Settings, db: SQLiteDatabase, app: App = items_app) -> Context:
    limiter = SharedFailureLimiter(max_failures=settings.auth_failure_limit)
    return make_context(settings, db, limiter, app=app)


@pytest.fixture
def client(settings: Settings, db: SQLiteDatabase) -> TestClient:
    """The real app in-process, on a real SQLite file in a temp data dir."""
    app = build_app(app_context(settings, db), items_app)
    # Not entered as a context manager: the app does not use lifespan events.
    return TestClient(app, base_url="http://testserver")
