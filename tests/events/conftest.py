"""An event log on each engine: a real SQLite file and a database on the session's
PostgreSQL, migrated as a server migrates them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onebin.compose import open_database
from onebin.config import Settings
from onebin.events import EventLog
from onebin.items import app as items_app
from onebin.store.database import Engine
from onebin.store.notices import notices_for


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    db = open_database(Settings(data_dir=tmp_path / "data", database_url=url), items_app)
    yield db
    db.close()


@pytest.fixture
def log(engine_db: Engine) -> EventLog:
    return EventLog(engine_db, notices_for(engine_db, ()))
