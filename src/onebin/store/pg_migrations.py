"""Migrations on PostgreSQL: the same ledger and rules as SQLite, serialised by a lock.

Several replicas (or ``--workers``, or a CLI command beside a server) may start at
the same moment against one database. Each applies its migrations in ONE
transaction that first takes a transaction-scoped advisory lock: the others wait
on it, then find the versions recorded and apply nothing. The lock is released by
the COMMIT or ROLLBACK itself, so a process that dies mid-migration cannot leave it
held. ``schema_migrations`` is the same table as on SQLite, so ``pending`` decides
what to do (and refuses a database a newer program migrated) on both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from onebin.errors import StoreError
from onebin.store.migrations import LEDGER, Migration, check_order, named, pending

# The key of the advisory lock all onebin processes migrate under: "onebin" as a
# number, fixed forever (an application's own advisory locks must pick others).
MIGRATION_LOCK = int.from_bytes(b"onebin", "big")


def script(migration: Migration) -> str:
    """The SQL PostgreSQL runs for ``migration``: its own dialect's where it has one."""
    return migration.postgresql if migration.postgresql is not None else migration.sql


def applied_versions(conn: psycopg.Connection[Any]) -> list[tuple[str, int, str]]:
    """What the ledger records, as ``(component, version, name)`` in order."""
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cursor:
        cursor.execute(
            "SELECT component, version, name FROM schema_migrations ORDER BY component, version"
        )
        return [(row[0], row[1], row[2]) for row in cursor.fetchall()]


def apply_migrations(
    conn: psycopg.Connection[Any], migrations: Sequence[Migration]
) -> list[Migration]:
    """Apply what is not applied yet, all in one transaction; return what was applied now.

    Migrations may take longer than a request's query deadline (an index on a big
    table), and a second starter waits on the lock for as long as the first one
    migrates, so ``statement_timeout`` is off inside this transaction only.
    """
    check_order(migrations)
    with conn.transaction():
        conn.execute("SET LOCAL statement_timeout = 0")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(LEDGER)
        todo = pending(migrations, applied_versions(conn))
        stamp = datetime.now(UTC).isoformat()
        for migration in todo:
            # Without parameters psycopg sends the script as one simple query, so a
            # migration may hold several statements (and dollar-quoted bodies).
            try:
                conn.execute(script(migration))
            except psycopg.DatabaseError as error:
                raise StoreError(f"{named(migration)} failed: {error}") from error
            conn.execute(
                "INSERT INTO schema_migrations (component, version, name, applied_at) "
                "VALUES (%s, %s, %s, %s)",
                (migration.component, migration.version, migration.name, stamp),
            )
    return todo
