"""Versioned schema migrations, recorded in the database itself.

Each component (the onebin library, then the app) owns a numbered list of
migrations. Applying is idempotent: what ``schema_migrations`` records as done is
skipped, the rest runs in order, each in its own transaction together with its
record, so a crash mid-way leaves either the old or the new version, never half.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from onebin.errors import StoreError

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)
"""


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str


def check_order(migrations: Sequence[Migration]) -> None:
    """Versions must count up from 1 per component with no gaps or repeats."""
    expected: dict[str, int] = {}
    for migration in migrations:
        want = expected.get(migration.component, 0) + 1
        if migration.version != want:
            raise StoreError(
                f"migration {migration.component}/{migration.version} is out of order "
                f"(expected version {want})"
            )
        expected[migration.component] = want


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[Migration]:
    """Apply what is not applied yet; return what was applied now."""
    check_order(migrations)
    conn.execute(_LEDGER)
    applied_now = []
    for migration in migrations:
        # BEGIN IMMEDIATE serialises concurrent starters (several workers, or a CLI
        # command racing a server): the second one sees the first one's record.
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE component = ? AND version = ?",
                (migration.component, migration.version),
            ).fetchone()
            if done is None:
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (component, version, name, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        migration.component,
                        migration.version,
                        migration.name,
                        datetime.now(UTC).isoformat(),
                    ),
                )
                applied_now.append(migration)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return applied_now


def applied_versions(conn: sqlite3.Connection) -> list[tuple[str, int, str]]:
    rows = conn.execute(
        "SELECT component, version, name FROM schema_migrations ORDER BY component, version"
    )
    return [(row[0], row[1], row[2]) for row in rows]


def _statements(sql: str) -> list[str]:
    # executescript() would commit our transaction; split on ';' instead. Migration
    # SQL is ours, so statements never contain a literal ';'.
    return [part.strip() for part in sql.split(";") if part.strip()]
