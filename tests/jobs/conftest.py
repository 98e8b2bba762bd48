"""The job queue on each engine: a fresh migrated database per test, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from onebin.jobs.queue import JobQueue
from onebin.jobs.tables import MIGRATIONS as JOB_MIGRATIONS
from onebin.store.database import Engine
from onebin.store.limiter import MIGRATIONS as LIMITER_MIGRATIONS
from onebin.store.postgres import PostgresDatabase
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.tls.tables import MIGRATIONS as TLS_MIGRATIONS

# onebin's migrations up to the queue's (versions count from 1 with no gaps).
JOB_TABLES = [*TOKEN_MIGRATIONS, *LIMITER_MIGRATIONS, *TLS_MIGRATIONS, *JOB_MIGRATIONS]
T = TypeVar("T")


class Clock:
    """Wall time that moves only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path) -> Iterator[Engine]:
    """A migrated database of each engine; the queue's contract holds on both."""
    db: Engine
    if request.param == "sqlite":
        db = SQLiteDatabase(tmp_path / "jobs.sqlite3", JOB_TABLES)
    else:
        db = PostgresDatabase(request.getfixturevalue("postgres_url"), JOB_TABLES)
    db.open()
    yield db
    db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(any_db: Engine, clock: Clock) -> JobQueue:
    return JobQueue(any_db, clock=clock)


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def rows(db: Engine) -> list[dict[str, Any]]:
    """Every job row, by id."""
    found = db.read_sync(
        lambda conn: conn.execute("SELECT * FROM onebin_jobs ORDER BY id").fetchall()
    )
    return [dict(row) for row in found]
