"""A database of each engine, migrated as a server migrates it, and its Context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from onebin.app import Context
from onebin.compose import make_context, open_database
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.limiter import SharedFailureLimiter
from onebin.store.database import Engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_settings(request: pytest.FixtureRequest, tmp_path) -> Settings:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", database_url=url)


@pytest.fixture
def engine_db(engine_settings: Settings) -> Iterator[Engine]:
    db = open_database(engine_settings, items_app)
    yield db
    db.close()


@pytest.fixture
def context(engine_settings: Settings, engine_db: Engine) -> Context:
    return make_context(engine_settings, engine_db, SharedFailureLimiter())


def webhook_jobs(db: Engine) -> list[dict[str, Any]]:
    """Every delivery job, by id, its payload decoded."""
    rows = db.read_sync(
        lambda conn: conn.execute(
            "SELECT * FROM onebin_jobs WHERE kind = 'onebin.webhook' ORDER BY id"
        ).fetchall()
    )
    return [{**dict(row), "payload": json.loads(row["payload"])} for row in rows]
