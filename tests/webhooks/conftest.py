"""The Context of a database of each engine (``engine_db`` of tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from onebin.app import Context
from onebin.compose import make_context
from onebin.config import Settings
from onebin.limiter import SharedFailureLimiter
from onebin.store.database import Engine


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
