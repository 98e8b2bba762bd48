"""PostgreSQL for the benchmarks: a scratch database per run, seeded with items.

``scratch_database(URL)`` creates a database of its own on the server that URL
names (the URL's user needs CREATEDB) and drops it at the end, so a run never
touches the data in the URL's database; with no URL it starts a private server
from Debian's binaries as the tests do (tests/postgres.py, fsync on).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from onebin.compose import open_database
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.items.repository import now_iso
from onebin.store.tokens import TokenStore
from tests.postgres import running_postgres


def with_database(url: str, name: str) -> str:
    """The same URL (user, password, host, parameters) naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def scratch_database(url: str | None) -> Iterator[str]:
    """The URL of a new empty database, dropped when the block ends."""
    if url is None:
        with running_postgres() as server:
            yield server.create_database()
        return
    name = f"onebin_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0".encode())
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def seed_postgres(url: str, count: int, work: Path) -> str:
    """``count`` items (ids 1..count in an empty database) and a write token."""
    settings = Settings(data_dir=work / "seed", database_url=url, query_timeout=3600)
    db = open_database(settings, items_app)
    stamp = now_iso()
    rows = [
        (f"item {i}", f"description of item number {i}", '["seed"]', stamp, stamp)
        for i in range(count)
    ]
    try:
        db.write_sync(
            lambda conn: conn.cursor().executemany(
                "INSERT INTO items (name, description, tags, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        )
        db.write_sync(lambda conn: conn.execute("ANALYZE items"))
        token, _ = TokenStore(db).create("bench")
    finally:
        db.close()
    return token
