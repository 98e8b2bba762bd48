"""Write tokens: random secrets shown once, stored only as a SHA-256 hash.

A token has 256 bits of entropy, so a plain (unsalted) SHA-256 is enough: there is
nothing to brute-force, and a hash lets us look the token up by an index instead of
comparing against every row. The final comparison is still constant-time.

The table lives in whichever engine serves the run. Its SQL is the same on both but
for the parameter marks (``?`` for sqlite3, ``%s`` for psycopg), so each statement
is written once, below, and rendered per engine (``TokenSql``); the schema differs
more and is given per engine in the migrations.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onebin.errors import NotFound, StoreError
from onebin.store.database import Connection, Engine
from onebin.store.migrations import Migration

TOKEN_PREFIX = "ob_"  # noqa: S105 - a label, not a secret

MIGRATIONS = (
    Migration(
        "onebin",
        1,
        "tokens",
        """
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """,
        postgresql="""
        CREATE TABLE tokens (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """,
    ),
    Migration(
        "onebin",
        2,
        "token names unique among active tokens only",
        # A revoked name could never be used again (`UNIQUE`), so rerunning a setup
        # script that creates "me" failed forever after one revoke. SQLite cannot
        # drop a constraint in place: the table is rebuilt with the same ids, and
        # only active tokens hold their name (a partial unique index).
        """
        CREATE TABLE tokens_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        INSERT INTO tokens_v2 (id, name, token_hash, created_at, revoked_at)
            SELECT id, name, token_hash, created_at, revoked_at FROM tokens;
        DROP TABLE tokens;
        ALTER TABLE tokens_v2 RENAME TO tokens;
        CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL
        """,
        # PostgreSQL drops a constraint in place.
        postgresql="""
        ALTER TABLE tokens DROP CONSTRAINT tokens_name_key;
        CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL
        """,
    ),
)

# Applied after the library's other tables (its version comes after theirs).
ADMIN_MIGRATIONS = (
    Migration(
        "onebin",
        8,
        "admin tokens",
        # Existing tokens stay write tokens: admin rights are only ever given on purpose.
        "ALTER TABLE tokens ADD COLUMN admin INTEGER NOT NULL DEFAULT 0",
        postgresql="ALTER TABLE tokens ADD COLUMN admin BOOLEAN NOT NULL DEFAULT false",
    ),
)


@dataclass(frozen=True)
class TokenSql:
    """Every statement of the token store, with one engine's parameter mark."""

    revoke_active: str = (
        "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING *"
    )
    insert: str = (
        "INSERT INTO tokens (name, token_hash, created_at, admin) VALUES (?, ?, ?, ?) RETURNING *"
    )
    all: str = "SELECT * FROM tokens ORDER BY id"
    last_revoked: str = (
        "SELECT revoked_at FROM tokens WHERE name = ? ORDER BY revoked_at DESC LIMIT 1"
    )
    live: str = "SELECT * FROM tokens WHERE token_hash = ? AND revoked_at IS NULL"

    def marked(self, mark: str) -> TokenSql:
        """The same statements with ``mark`` for ``?`` (no statement has another ``?``)."""
        return TokenSql(*(statement.replace("?", mark) for statement in astuple(self)))


SQL = {"sqlite": TokenSql(), "postgresql": TokenSql().marked("%s")}


@dataclass(frozen=True)
class TokenRecord:
    """A write token as stored: never its secret. ``name`` says whose it is; an
    ``admin`` token also opens the console and the metrics."""

    id: int
    name: str
    created_at: str
    revoked_at: str | None
    admin: bool = False


MAX_NAME = 64


def check_name(name: str) -> str:
    """A token's name as given, or ``StoreError``: 1-64 printable characters.

    The name is printed by ``token list`` and sent to the page: a control character
    there would rewrite the operator's terminal.
    """
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable() or name != name.strip():
        raise StoreError(
            f"a token name is 1-{MAX_NAME} printable characters without surrounding spaces "
            f"(got {name!r})"
        )
    return name


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(row: Mapping[str, Any] | sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        row["id"], row["name"], row["created_at"], row["revoked_at"], bool(row["admin"])
    )


class TokenStore:
    """Create, check, list and revoke write tokens in the onebin database (either engine)."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.sql = SQL[db.engine]

    # The command line runs each change on its own thread (``create``, ``list``,
    # ``revoke``), the console on the loop's database paths (``*_async``): the same
    # function of a connection either way.

    def create(
        self, name: str | None = None, *, replace: bool = False, admin: bool = False
    ) -> tuple[str, TokenRecord]:
        """Return the secret (shown once, never stored) and its record.

        Only one active token may hold a name. ``replace`` revokes the active token of
        that name in the same transaction, so a setup script can be rerun and there is
        never a moment with both tokens valid, or with neither.
        """
        token, insert = self._creating(name, replace=replace, admin=admin)
        return token, self.db.write_sync(insert)

    async def create_async(
        self, name: str | None = None, *, admin: bool = False
    ) -> tuple[str, TokenRecord]:
        token, insert = self._creating(name, replace=False, admin=admin)
        return token, await self.db.write(insert)

    def _creating(
        self, name: str | None, *, replace: bool, admin: bool
    ) -> tuple[str, Callable[[Connection], TokenRecord]]:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = hash_token(token)
        label = f"token-{digest[:8]}" if name is None else check_name(name)
        sql = self.sql

        def insert(conn: Connection) -> TokenRecord:
            now = _now()
            if replace:
                conn.execute(sql.revoke_active, (now, label)).fetchall()
            try:
                row = conn.execute(sql.insert, (label, digest, now, admin)).fetchone()
            # DB-API connections name their engine's exceptions (sqlite3 and psycopg).
            except conn.IntegrityError:
                raise StoreError(
                    f"a token named {label!r} already exists (revoke it, or use --replace)"
                ) from None
            return _record(row)

        return token, insert

    def list(self) -> list[TokenRecord]:
        """Every token ever made, revoked ones too (a name may appear more than once)."""
        return self.db.read_sync(self._all)

    async def list_async(self) -> list[TokenRecord]:
        return await self.db.read(self._all)

    def _all(self, conn: Connection) -> list[TokenRecord]:
        return [_record(row) for row in conn.execute(self.sql.all).fetchall()]

    def revoke(self, name: str) -> TokenRecord:
        """Revoke the active token called ``name``; ``NotFound`` when none is active."""
        return self.db.write_sync(self._revoking(name))

    async def revoke_async(self, name: str) -> TokenRecord:
        return await self.db.write(self._revoking(name))

    def _revoking(self, name: str) -> Callable[[Connection], TokenRecord]:
        sql = self.sql

        def update(conn: Connection) -> TokenRecord:
            # At most one row: only one active token may hold a name.
            revoked = conn.execute(sql.revoke_active, (_now(), name)).fetchall()
            if revoked:
                return _record(revoked[0])
            last = conn.execute(sql.last_revoked, (name,)).fetchone()
            if last is not None:
                raise NotFound(
                    f"no active token named {name!r}: it was already revoked at "
                    f"{last['revoked_at']}"
                )
            raise NotFound(f"no active token named {name!r}")

        return update

    async def verify(self, token: str) -> TokenRecord | None:
        """The live token's record, or None for an unknown or revoked token."""
        digest = hash_token(token)
        live = self.sql.live

        def lookup(conn: Connection) -> Any:
            return conn.execute(live, (digest,)).fetchone()

        row = await self.db.lookup(lookup)
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        return _record(row)


def carry_revocations(replaced: Path, incoming: Path) -> int | None:
    """Revoke in ``incoming`` every token that ``replaced`` has revoked; how many.

    A restore brings back the token table as it was when the backup was taken, so a
    token revoked since (a leaked one, say) would be valid again. None when the
    replaced database cannot be read (damaged, or not there).
    """
    try:
        old = sqlite3.connect(f"file:{replaced}?mode=ro", uri=True)
        try:
            revoked = old.execute(
                "SELECT token_hash, revoked_at FROM tokens WHERE revoked_at IS NOT NULL"
            ).fetchall()
        finally:
            old.close()
    except sqlite3.Error:
        return None
    new = sqlite3.connect(incoming)
    try:
        with new:
            changed = new.executemany(
                "UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                [(revoked_at, token_hash) for token_hash, revoked_at in revoked],
            ).rowcount
    finally:
        new.close()
    return changed
