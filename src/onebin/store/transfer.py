"""Moving a database between engines: a SQLite data directory into an empty PostgreSQL
database (``copy_to_postgresql``), and back (``copy_to_sqlite``).

The target's schema is made by the same migrations a server runs, on its own engine,
so it is exactly what a server would have made; then every table the source holds
is copied generically (its columns as the source names them), in one transaction on
the target, and verified before that transaction commits: per table, the row count
and a content checksum computed the same way on both sides (``Checksum``). A
mismatch rolls the whole copy back. What is skipped, and why:

- SQLite's own tables (``sqlite_sequence``, ``sqlite_stat*``) and a full-text
  index's virtual and shadow tables: the target's migrations made its own index
  (FTS5 triggers on SQLite, a generated ``tsvector`` column on PostgreSQL), which
  fills in as the rows arrive;
- PostgreSQL's generated columns (``items.search``): computed from the row.

The caller guarantees that nothing writes to the source meanwhile: a SQLite data
directory is locked exclusively (no server may run on it); a PostgreSQL source is
read in one snapshot, so a server may keep running there. A PostgreSQL target may
have servers started on it (they create the schema), as long as no table holds a
row: the copy locks every table against writes and checks again before it starts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from onebin.errors import StoreError
from onebin.store.checksum import Checksum, checksum, normalised
from onebin.store.connection import connect
from onebin.store.integrity import note_clean_close
from onebin.store.lock import LOCK_NAME
from onebin.store.migrations import Migration
from onebin.store.pg_migrations import MIGRATION_LOCK
from onebin.store.postgres import PostgresDatabase, connection_options
from onebin.store.sqlite import SQLiteDatabase
from onebin.values import redact, scrub

LEDGER_TABLE = "schema_migrations"
# Rows fetched per round trip from a PostgreSQL source.
BATCH = 2000


class TargetNotEmpty(StoreError):
    """The target already holds data (or tables onebin's migrations do not make)."""


class VerificationFailed(StoreError):
    """A table's copy differs from its source; nothing was kept."""

    def __init__(self, table: str, source: Checksum, target: Checksum) -> None:
        super().__init__(
            f"table {table}: the copy does not match its source (source {source.rows} rows, "
            f"checksum {source.short}; copy {target.rows} rows, checksum {target.short}); "
            "nothing was copied"
        )
        self.table = table
        self.source = source
        self.target = target


# What is copied, and what the report says.


@dataclass(frozen=True)
class Table:
    """A table to copy: its name and the columns that hold data (not generated ones)."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TableReport:
    name: str
    rows: int
    checksum: str


@dataclass(frozen=True)
class TransferReport:
    source: str
    target: str
    tables: tuple[TableReport, ...]
    notes: tuple[str, ...] = ()


def format_report(report: TransferReport) -> str:
    """The report as the command prints it: one line per table, then what was left."""
    width = max([len(t.name) for t in report.tables] + [5])
    lines = [f"copied {report.source} to {report.target}"]
    lines += [
        f"  {t.name:<{width}} {t.rows:>9,} rows  checksum {t.checksum[:16]}  verified"
        for t in report.tables
    ]
    total = sum(t.rows for t in report.tables)
    lines.append(f"{len(report.tables)} tables, {total:,} rows: counts and checksums match")
    lines += [f"note: {what}" for what in report.notes]
    return "\n".join(lines)


def left_behind(data_dir: Path) -> tuple[str, ...]:
    """What a data directory holds beside the database, which no copy of tables carries."""
    tls = data_dir / "tls"
    if tls.is_dir() and any(tls.iterdir()):
        return (
            f"not copied: {tls}: certificates and the ACME account are files in the data "
            "directory, not database rows; copy that directory to the new servers' "
            "--data-dir, or let them obtain new certificates",
        )
    return ()


def ordered(tables: dict[str, Table], references: dict[str, set[str]]) -> list[Table]:
    """Referenced tables before the tables that refer to them (foreign keys), else by name."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in sorted(tables):
        sorter.add(name, *sorted(references.get(name, set()) & tables.keys() - {name}))
    try:
        return [tables[name] for name in sorter.static_order()]
    except CycleError:  # SQLite defers its checks; PostgreSQL then reports the violation
        return [tables[name] for name in sorted(tables)]


# SQLite's side.


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_tables(conn: sqlite3.Connection) -> list[Table]:
    """The tables holding data, referenced ones first: not SQLite's own, nor an index's."""
    rows = conn.execute(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ).fetchall()
    tables: dict[str, Table] = {}
    references: dict[str, set[str]] = {}
    for (name,) in rows:
        # table_xinfo's hidden: 0 a plain column, 1 hidden, 2-3 generated.
        columns = conn.execute(f"PRAGMA table_xinfo({_quote(name)})").fetchall()
        tables[name] = Table(name, tuple(c[1] for c in columns if c[6] == 0))
        keys = conn.execute(f"PRAGMA foreign_key_list({_quote(name)})").fetchall()
        references[name] = {key[2] for key in keys}
    return ordered(tables, references)


def _sqlite_select(table: Table) -> str:
    columns = ", ".join(_quote(c) for c in table.columns)
    return f"SELECT {columns} FROM {_quote(table.name)}"  # noqa: S608 - quoted names


# PostgreSQL's side.


def _pg_connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        options = {**connection_options(url), "row_factory": tuple_row}
        return psycopg.connect(url, **options)
    except psycopg.Error as error:
        raise StoreError(f"cannot open database {redact(url)}: {_first_line(error, url)}") from None


def _first_line(error: psycopg.Error, url: str) -> str:
    """The server's message in one line (its DETAIL and CONTEXT lines dropped), no password."""
    return scrub(str(error).strip().partition("\n")[0], url)


def _migrate_postgresql(url: str, migrations: Sequence[Migration]) -> None:
    """The schema, made as a server makes it (the same engine, the same lock)."""
    database = PostgresDatabase(url, migrations, pool_size=1)
    database.open()
    database.close()


def pg_tables(conn: psycopg.Connection[Any]) -> list[Table]:
    """The tables of the current schema, referenced ones first; generated columns left out."""
    rows = conn.execute(
        "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attgenerated = '' GROUP BY c.relname"
    ).fetchall()
    tables = {name: Table(name, tuple(columns)) for name, columns in rows}
    references: dict[str, set[str]] = {}
    for name, referenced in conn.execute(
        "SELECT c.relname, r.relname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid "
        "WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace"
    ).fetchall():
        references.setdefault(name, set()).add(referenced)
    return ordered(tables, references)


def _pg_select(table: Table) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, table.columns)), sql.Identifier(table.name)
    )


def _pg_rows(conn: psycopg.Connection[Any], table: Table) -> Iterator[tuple[Any, ...]]:
    """The table's rows, streamed by a server-side cursor (inside the caller's transaction)."""
    with conn.cursor(name=f"transfer_{table.name}"[:63], row_factory=tuple_row) as cursor:
        cursor.itersize = BATCH
        cursor.execute(_pg_select(table))
        yield from cursor


def _holding(conn: psycopg.Connection[Any], tables: Iterable[str]) -> str | None:
    """The first of ``tables`` (the ledger aside) that holds a row, or None."""
    for name in tables:
        if name == LEDGER_TABLE:
            continue
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(name))
        row = conn.execute(query).fetchone()
        if row is not None and row[0]:
            return name
    return None


def _refuse_unless_empty(conn: psycopg.Connection[Any], url: str, expected: set[str]) -> None:
    """A target holding rows, or tables that onebin's migrations do not make, is refused."""
    present = {table.name for table in pg_tables(conn)}
    extra = sorted(present - expected)
    where = redact(url)
    if extra:
        raise TargetNotEmpty(
            f"{where} is not empty: it has tables this app's migrations do not make "
            f"({', '.join(extra)}); migrate-data copies only into an empty database"
        )
    holder = _holding(conn, sorted(present))
    if holder is not None:
        raise TargetNotEmpty(
            f"{where} is not empty: table {holder} has rows; migrate-data copies only "
            "into an empty database"
        )


def _advance_sequences(conn: psycopg.Connection[Any], table: Table) -> None:
    """Identity and serial sequences past the copied ids, so new rows do not collide."""
    for column in table.columns:
        found = conn.execute(
            "SELECT pg_get_serial_sequence(%s, %s)",
            (sql.Identifier(table.name).as_string(conn), column),
        ).fetchone()
        if found is None or found[0] is None:
            continue
        conn.execute(
            sql.SQL("SELECT setval(%s, max({})) FROM {} HAVING max({}) IS NOT NULL").format(
                sql.Identifier(column), sql.Identifier(table.name), sql.Identifier(column)
            ),
            (found[0],),
        )


def _matched(source: list[Table], target: list[Table], where: str) -> None:
    """Every source table and column must exist in the target, which the same
    migrations made; one that does not is data the copy would lose."""
    columns = {table.name: set(table.columns) for table in target}
    for table in source:
        if table.name not in columns:
            raise StoreError(f"{where} has no table {table.name}: it cannot be copied")
        missing = sorted(set(table.columns) - columns[table.name])
        if missing:
            raise StoreError(
                f"{where} has no column {', '.join(missing)} in table {table.name}: "
                "it cannot be copied"
            )


def copy_to_postgresql(
    source: Path, url: str, migrations: Sequence[Migration], *, notes: Sequence[str] = ()
) -> TransferReport:
    """Copy the migrated SQLite file ``source`` into the empty PostgreSQL database ``url``.

    The caller holds the data directory exclusively. The target's schema is made by
    ``migrations``; a target with rows is refused (``TargetNotEmpty``) before that.
    """
    where = redact(url)
    src = connect(source)
    try:
        src.execute("BEGIN")
        tables = sqlite_tables(src)
        with _pg_connect(url) as pg:
            with pg.transaction():
                _refuse_unless_empty(pg, url, {table.name for table in tables})
            _migrate_postgresql(url, migrations)
            with pg.transaction():
                pg.execute("SET LOCAL statement_timeout = 0")
                # Timestamps read as text the same way whatever the server's zone.
                pg.execute("SET LOCAL TimeZone = 'UTC'")
                # No server may migrate meanwhile, nor write to a table: checked again.
                pg.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                made = pg_tables(pg)
                _matched(tables, made, where)
                for table in made:
                    pg.execute(
                        sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                            sql.Identifier(table.name)
                        )
                    )
                _refuse_unless_empty(pg, url, {table.name for table in made})
                pg.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(LEDGER_TABLE)))
                for table in tables:
                    _copy_into_postgresql(src, pg, table)
                    _advance_sequences(pg, table)
                reports = []
                for table in tables:
                    mine = checksum(src.execute(_sqlite_select(table)))
                    theirs = checksum(_pg_rows(pg, table))
                    if mine != theirs:
                        raise VerificationFailed(table.name, mine, theirs)
                    reports.append(TableReport(table.name, mine.rows, mine.hex))
    except psycopg.Error as error:
        raise StoreError(f"copy into {where} failed: {_first_line(error, url)}") from None
    except sqlite3.Error as error:
        raise StoreError(f"reading {source} failed: {error}") from None
    finally:
        if src.in_transaction:
            src.execute("ROLLBACK")
        src.close()
    return TransferReport(str(source), where, tuple(reports), tuple(notes))


def _copy_into_postgresql(
    src: sqlite3.Connection, pg: psycopg.Connection[Any], table: Table
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    with pg.cursor() as cursor, cursor.copy(statement) as copy:
        for row in src.execute(_sqlite_select(table)):
            copy.write_row(tuple(row))


# Back: PostgreSQL into a new data directory.


def check_empty_dir(data_dir: Path) -> None:
    """Refuse a data directory that holds anything (its lock file aside)."""
    if data_dir.is_dir():
        found = sorted(p.name for p in data_dir.iterdir() if p.name != LOCK_NAME)
        if found:
            raise TargetNotEmpty(
                f"{data_dir} is not empty ({', '.join(found[:3])}); migrate-data copies "
                "only into an empty or new data directory"
            )


def sqlite_value(value: Any) -> Any:
    """A PostgreSQL value as SQLite stores it: its own types as they are, others as text."""
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return normalised(value)


def copy_to_sqlite(url: str, target: Path, migrations: Sequence[Migration]) -> TransferReport:
    """Copy the PostgreSQL database ``url`` into a new SQLite file ``target``.

    The caller holds the (empty) data directory exclusively. The source is migrated
    as a server would migrate it, then read in one snapshot. If anything fails, the
    new file is removed.
    """
    where = redact(url)
    _migrate_postgresql(url, migrations)
    made = SQLiteDatabase(target, migrations)
    made.open()  # the schema, made as a server makes it
    made.close()
    try:
        report = _copy_into_sqlite(url, target, where)
    except BaseException:
        for path in target.parent.glob(target.name + "*"):
            path.unlink(missing_ok=True)
        raise
    note_clean_close(target)
    return replace(report, notes=unused_by_sqlite(report, target.parent))


# A SQLite run keeps its certificates as files (onebin.tls.tables): rows there are idle.
CERTIFICATE_TABLES = ("acme_accounts", "acme_certificates")


def unused_by_sqlite(report: TransferReport, data_dir: Path) -> tuple[str, ...]:
    """What was copied but a SQLite run will not read: certificates kept in the database."""
    if any(t.rows for t in report.tables if t.name in CERTIFICATE_TABLES):
        return (
            "certificates and the ACME account were copied into their tables, but a SQLite "
            f"run keeps them as files in {data_dir / 'tls'}: it obtains new ones at start",
        )
    return ()


def _copy_into_sqlite(url: str, target: Path, where: str) -> TransferReport:
    dst = connect(target)
    try:
        with _pg_connect(url) as pg:
            pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            pg.read_only = True
            with pg.transaction():
                pg.execute("SET LOCAL statement_timeout = 0")
                # Timestamps read as text the same way whatever the server's zone.
                pg.execute("SET LOCAL TimeZone = 'UTC'")
                tables = pg_tables(pg)
                _matched(tables, sqlite_tables(dst), str(target))
                dst.execute("BEGIN IMMEDIATE")
                dst.execute("PRAGMA defer_foreign_keys = ON")
                dst.execute("DELETE FROM schema_migrations")
                for table in tables:
                    marks = ", ".join("?" for _ in table.columns)
                    columns = ", ".join(_quote(c) for c in table.columns)
                    dst.executemany(
                        f"INSERT INTO {_quote(table.name)} ({columns}) VALUES ({marks})",  # noqa: S608
                        ([sqlite_value(v) for v in row] for row in _pg_rows(pg, table)),
                    )
                reports = []
                for table in tables:
                    theirs = checksum(_pg_rows(pg, table))
                    mine = checksum(dst.execute(_sqlite_select(table)))
                    if mine != theirs:
                        raise VerificationFailed(table.name, theirs, mine)
                    reports.append(TableReport(table.name, mine.rows, mine.hex))
                dst.execute("COMMIT")
        dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except psycopg.Error as error:
        raise StoreError(f"copy from {where} failed: {_first_line(error, url)}") from None
    except sqlite3.Error as error:
        raise StoreError(f"copy into {target} failed: {error}") from None
    finally:
        if dst.in_transaction:
            dst.execute("ROLLBACK")
        dst.close()
    return TransferReport(where, str(target), tuple(reports))
