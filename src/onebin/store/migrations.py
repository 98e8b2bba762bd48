"""Versioned schema migrations, recorded in the database itself.

Each component (the onebin library, then the app) owns a numbered list of
migrations. Applying is idempotent: what ``schema_migrations`` records as done is
skipped, and everything pending runs in ONE transaction together with its records
and onebin's ``application_id`` mark, so a failed start leaves the file exactly as
it was, never half-migrated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from onebin.errors import ForeignDatabase, StoreError

# The component of onebin's own tables (tokens); an application names its own.
LIBRARY_COMPONENT = "onebin"

LEDGER = """
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
    """One schema change, applied once, in order, at start.

    ``component`` groups an application's migrations (its name, say); ``version``
    counts up from 1 within it with no gaps. ``sql`` may hold several statements;
    all pending migrations run in one transaction, so a start either applies them
    all or none. A database already migrated past the newest version known here is
    refused, so an older build never writes to a newer schema.

    ``postgresql`` is the same change in PostgreSQL's dialect, where it differs
    (``sql`` is used on both engines when it is None): the ledger records one
    version either way, so a migration means the same step on every engine.
    """

    component: str
    version: int
    name: str
    sql: str
    postgresql: str | None = None


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


def pending(
    migrations: Sequence[Migration], applied: Sequence[tuple[str, int, str]]
) -> list[Migration]:
    """What is left to apply; refuses another app's database, or one a newer program migrated.

    A database records the components whose migrations made it: one that holds a
    component these migrations do not have is another application's (two apps in
    one data directory would each add their tables and share one set of tokens).
    """
    known = {(m.component, m.version) for m in migrations}
    components = {m.component for m in migrations}
    foreign = sorted({c for c, _, _ in applied} - components - {LIBRARY_COMPONENT})
    if foreign:
        raise ForeignDatabase(
            f"the database holds another application's tables ({', '.join(foreign)}); "
            "give each application its own --data-dir"
        )
    for component, version, name in applied:
        if component in components and (component, version) not in known:
            raise StoreError(
                f"the database has migration {component}/{version} ({name}), which this "
                "program does not know: it was written by a newer version"
            )
    done = {(component, version) for component, version, _ in applied}
    return [m for m in migrations if (m.component, m.version) not in done]


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration], *, application_id: int
) -> list[Migration]:
    """Apply what is not applied yet, all in one transaction; return what was applied now."""
    check_order(migrations)
    # BEGIN IMMEDIATE serialises concurrent starters (several workers, or a CLI
    # command racing a server): the second one sees the first one's records.
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(LEDGER)
        todo = pending(migrations, applied_versions(conn))
        stamp = datetime.now(UTC).isoformat()
        for migration in todo:
            for statement in statements(migration.sql):
                _refuse_transaction_control(migration, statement)
                try:
                    conn.execute(statement)
                except sqlite3.Error as error:
                    raise StoreError(f"{named(migration)} failed: {error}") from error
            conn.execute(
                "INSERT INTO schema_migrations (component, version, name, applied_at) "
                "VALUES (?, ?, ?, ?)",
                (migration.component, migration.version, migration.name, stamp),
            )
        conn.execute(f"PRAGMA application_id = {int(application_id)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return todo


# A migration runs inside the transaction that records it; one of these statements
# would end that transaction early and leave the migration recorded but half-applied.
_TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})


def named(migration: Migration) -> str:
    """How errors name a migration: ``migration items/2 (full-text index)``."""
    return f"migration {migration.component}/{migration.version} ({migration.name})"


def _refuse_transaction_control(migration: Migration, statement: str) -> None:
    words = statement.split(maxsplit=1)
    if words and words[0].upper() in _TRANSACTION_CONTROL:
        raise StoreError(
            f"{named(migration)} contains {words[0].upper()}: onebin runs every migration "
            "in its own transaction, so a migration must not begin or end one"
        )


def check_file(path: Path, migrations: Sequence[Migration]) -> None:
    """Refuse a database file that these migrations must not open (see ``pending``).

    For a file about to replace the live one (a restore): another application's
    backup, or one written by a newer program, is refused before it is swapped in.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        applied = applied_versions(conn)
    finally:
        conn.close()
    pending(migrations, applied)


def applied_versions(conn: sqlite3.Connection) -> list[tuple[str, int, str]]:
    rows = conn.execute(
        "SELECT component, version, name FROM schema_migrations ORDER BY component, version"
    )
    return [(row[0], row[1], row[2]) for row in rows]


def statements(sql: str) -> list[str]:
    """Split a script into statements; ``;`` inside a trigger body does not end one.

    executescript() would commit the open transaction, so statements run one by one;
    SQLite's own ``complete_statement`` decides where each one ends.
    """
    found: list[str] = []
    current = ""
    for part in sql.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            found.append(current.strip().removesuffix(";").strip())
            current = ""
    return [statement for statement in found if statement]
