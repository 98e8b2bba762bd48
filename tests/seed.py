"""Items written straight into a data directory's database, for tests and benchmarks
that need many of them: through the app's own migrations, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from onebin.compose import open_database
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.items.repository import now_iso


def seed_items(
    data_dir: Path,
    count: int,
    *,
    describe: Callable[[int], str] = lambda i: f"description of item number {i}",
) -> None:
    # One long transaction: far past the deadline a request gets.
    db = open_database(Settings(data_dir=data_dir, query_timeout=3600), items_app)
    stamp = now_iso()
    rows = [(f"item {i}", describe(i), '["seed"]', stamp, stamp) for i in range(count)]
    try:
        db.write_sync(
            lambda conn: conn.executemany(
                "INSERT INTO items (name, description, tags, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        )
    finally:
        db.close()
