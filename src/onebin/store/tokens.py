"""Write tokens: random secrets shown once, stored only as a SHA-256 hash.

A token has 256 bits of entropy, so a plain (unsalted) SHA-256 is enough: there is
nothing to brute-force, and a hash lets us look the token up by an index instead of
comparing against every row. The final comparison is still constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from onebin.errors import NotFound, StoreError
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase

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
    ),
)


@dataclass(frozen=True)
class TokenRecord:
    id: int
    name: str
    created_at: str
    revoked_at: str | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(row["id"], row["name"], row["created_at"], row["revoked_at"])


class TokenStore:
    """Create, check, list and revoke write tokens in the onebin database."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    def create(self, name: str | None = None) -> tuple[str, TokenRecord]:
        """Return the secret (shown once, never stored) and its record."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = hash_token(token)
        label = name or f"token-{digest[:8]}"

        def insert(conn: sqlite3.Connection) -> TokenRecord:
            try:
                cursor = conn.execute(
                    "INSERT INTO tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
                    (label, digest, _now()),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"a token named {label!r} already exists") from None
            row = conn.execute("SELECT * FROM tokens WHERE id = ?", (cursor.lastrowid,)).fetchone()
            return _record(row)

        return token, self.db.write_sync(insert)

    def list(self) -> list[TokenRecord]:
        rows = self.db.read_sync(lambda conn: conn.execute("SELECT * FROM tokens ORDER BY id"))
        return [_record(row) for row in rows]

    def revoke(self, name: str) -> TokenRecord:
        def update(conn: sqlite3.Connection) -> TokenRecord:
            conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (_now(), name),
            )
            row = conn.execute("SELECT * FROM tokens WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no token named {name!r}")
            return _record(row)

        return self.db.write_sync(update)

    async def verify(self, token: str) -> TokenRecord | None:
        """The live token's record, or None for an unknown or revoked token."""
        digest = hash_token(token)

        def lookup(conn: sqlite3.Connection) -> sqlite3.Row | None:
            return conn.execute(
                "SELECT * FROM tokens WHERE token_hash = ? AND revoked_at IS NULL", (digest,)
            ).fetchone()

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
