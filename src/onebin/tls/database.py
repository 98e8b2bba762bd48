"""Certificates in PostgreSQL, for replicas behind a load balancer (``--database-url``).

The same ``CertificateStorage`` contract as the data-directory cache, kept in
onebin's own tables (``tls.tables``), rows keyed by the ACME directory URL:

- the ACME account key and each certificate's bundle (chain, then its private key,
  in one column, so they change together in one UPDATE);
- the bundle's SHA-256 as its version: every replica polls it every few seconds and
  hot-swaps when it changes;
- HTTP-01 answers, so the replica that receives the CA's request answers it, whichever
  replica ordered;
- ownership as a lease (``Lease``) with an expiry on the database's clock, renewed by
  the owner on every pass; when the owner dies, another replica takes over once it
  expires.

Private keys are stored as PEM text; the README says what protects them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
from dataclasses import asdict
from typing import Any

from onebin.store.database import Connection, Engine
from onebin.tls.storage import (
    CertificateStatus,
    StoredCertificate,
    is_token,
    parse_certificate,
)

logger = logging.getLogger("onebin.tls")

# How long ownership lasts without renewal. The owner renews every third of it, so a
# dead owner is replaced within about this long. It also bounds an order: one that
# takes longer may see a second replica start ordering too (both certificates are
# valid; the later one wins).
LEASE_SECONDS = 120.0


def owner_id() -> str:
    """Who this process is in the lease table: unique among live processes, and readable."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """An ``Ownership`` kept as one row per ACME directory: (owner, expires_at).

    Taking and renewing are one statement: the row is written only if it is free,
    expired or already ours, and the statement says whether it was. Expiry is
    compared on the database's clock, so replicas' clocks do not matter.
    """

    TAKE = """
        INSERT INTO acme_leases (directory, owner, expires_at)
        VALUES (%s, %s, now() + make_interval(secs => %s))
        ON CONFLICT (directory) DO UPDATE
            SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
            WHERE acme_leases.expires_at < now() OR acme_leases.owner = EXCLUDED.owner
        RETURNING owner
    """
    GIVE_UP = "DELETE FROM acme_leases WHERE directory = %s AND owner = %s"

    def __init__(self, db: Engine, directory: str, *, seconds: float | None = None) -> None:
        self.db = db
        self.directory = directory
        self.hold_seconds: float | None = LEASE_SECONDS if seconds is None else seconds
        self._owner: str | None = None
        self._pid = 0

    @property
    def owner(self) -> str:
        """This process's id, made after any fork: a child must not inherit its parent's."""
        if self._owner is None or self._pid != os.getpid():
            self._owner, self._pid = owner_id(), os.getpid()
        return self._owner

    def try_acquire(self) -> bool:
        arguments = (self.directory, self.owner, self.hold_seconds)
        row = self.db.write_sync(lambda conn: conn.execute(self.TAKE, arguments).fetchone())
        return row is not None

    def release(self) -> None:
        arguments = (self.directory, self.owner)
        try:
            self.db.write_sync(lambda conn: conn.execute(self.GIVE_UP, arguments))
        except Exception as error:  # the lease then simply expires
            logger.warning("could not give up the certificate lease: %s", error)


class DatabaseCertificateStore:
    """A ``CertificateStorage`` in a PostgreSQL database shared by every replica."""

    def __init__(
        self, db: Engine, directory_url: str, *, lease_seconds: float | None = None
    ) -> None:
        if db.engine != "postgresql":
            raise ValueError("certificates are kept in the database only with PostgreSQL")
        self.db = db
        self.directory = directory_url
        self.lock = Lease(db, directory_url, seconds=lease_seconds)

    def _one(self, sql: str, *arguments: Any) -> Any:
        row = self.db.read_sync(lambda conn: conn.execute(sql, arguments).fetchone())
        return None if row is None else next(iter(row.values()))

    def _write(self, sql: str, *arguments: Any) -> None:
        self.db.write_sync(lambda conn: conn.execute(sql, arguments))

    def load_account_key(self) -> bytes | None:
        key = self._one("SELECT key_pem FROM acme_accounts WHERE directory = %s", self.directory)
        return None if key is None else key.encode()

    def save_account_key(self, key_pem: bytes) -> None:
        self._write(
            "INSERT INTO acme_accounts (directory, key_pem) VALUES (%s, %s) "
            "ON CONFLICT (directory) DO UPDATE SET key_pem = EXCLUDED.key_pem",
            self.directory,
            key_pem.decode(),
        )

    def load_bundle(self, name: str) -> bytes | None:
        bundle = self._one(
            "SELECT bundle FROM acme_certificates WHERE directory = %s AND name = %s",
            self.directory,
            name,
        )
        return None if bundle is None else bundle.encode()

    def load_certificate(self, name: str) -> StoredCertificate | None:
        bundle = self.load_bundle(name)
        return None if bundle is None else parse_certificate(bundle, f"certificate row {name}")

    def certificate_version(self, name: str) -> str | None:
        version: str | None = self._one(
            "SELECT fingerprint FROM acme_certificates WHERE directory = %s AND name = %s",
            self.directory,
            name,
        )
        return version

    def save_certificate(self, name: str, chain_pem: bytes, key_pem: bytes) -> None:
        bundle = chain_pem.rstrip(b"\n") + b"\n" + key_pem
        self._write(
            "INSERT INTO acme_certificates (directory, name, bundle, fingerprint, updated_at) "
            "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (directory, name) DO UPDATE SET "
            "bundle = EXCLUDED.bundle, fingerprint = EXCLUDED.fingerprint, updated_at = now()",
            self.directory,
            name,
            bundle.decode(),
            hashlib.sha256(bundle).hexdigest(),
        )

    def load_status(self, name: str) -> CertificateStatus:
        data = self._one(
            "SELECT status FROM acme_certificates WHERE directory = %s AND name = %s",
            self.directory,
            name,
        )
        if not data:
            return CertificateStatus()
        try:
            return CertificateStatus.from_json(data.encode())
        except (ValueError, TypeError) as error:
            logger.warning("ignoring unreadable status of %s: %s", name, error)
            return CertificateStatus()

    def save_status(self, name: str, status: CertificateStatus) -> None:
        self._write(
            "INSERT INTO acme_certificates (directory, name, status) VALUES (%s, %s, %s) "
            "ON CONFLICT (directory, name) DO UPDATE SET status = EXCLUDED.status",
            self.directory,
            name,
            json.dumps(asdict(status)),
        )

    def put_challenge(self, token: str, key_authorization: str) -> None:
        if not is_token(token):
            raise ValueError(f"not an ACME token: {token!r}")
        self._write(
            "INSERT INTO acme_challenges (directory, token, key_authorization) "
            "VALUES (%s, %s, %s) ON CONFLICT (directory, token) DO UPDATE "
            "SET key_authorization = EXCLUDED.key_authorization, created_at = now()",
            self.directory,
            token,
            key_authorization,
        )

    def delete_challenge(self, token: str) -> None:
        self._write(
            "DELETE FROM acme_challenges WHERE directory = %s AND token = %s",
            self.directory,
            token,
        )

    async def challenge_answer(self, token: str) -> bytes | None:
        if not is_token(token):
            return None
        arguments = (self.directory, token)

        def lookup(conn: Connection) -> Any:
            return conn.execute(
                "SELECT key_authorization FROM acme_challenges WHERE directory = %s AND token = %s",
                arguments,
            ).fetchone()

        row = await self.db.lookup(lookup)
        return None if row is None else row["key_authorization"].encode()
