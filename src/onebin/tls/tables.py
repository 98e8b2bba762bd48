"""onebin's tables for certificates kept in the database (``tls.database``).

Only a ``--database-url`` run uses them; a SQLite run keeps its certificates as files
in the data directory, but its database gets the same (empty) tables so that a
migration means the same step on every engine. Rows are keyed by the ACME directory
URL, so staging and production never mix, as with the per-directory folders.

Private keys (the account's, and each certificate's inside ``bundle``) are stored as
PEM text, not encrypted by onebin: see the README on what protects them.
"""

from __future__ import annotations

from onebin.store.migrations import Migration

MIGRATIONS = (
    Migration(
        "onebin",
        4,
        "certificates in the database",
        """
        CREATE TABLE acme_accounts (
            directory TEXT PRIMARY KEY,
            key_pem TEXT NOT NULL
        );
        CREATE TABLE acme_certificates (
            directory TEXT NOT NULL,
            name TEXT NOT NULL,
            bundle TEXT,
            fingerprint TEXT,
            status TEXT,
            updated_at TEXT,
            PRIMARY KEY (directory, name)
        );
        CREATE TABLE acme_challenges (
            directory TEXT NOT NULL,
            token TEXT NOT NULL,
            key_authorization TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (directory, token)
        );
        CREATE TABLE acme_leases (
            directory TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """,
        postgresql="""
        CREATE TABLE acme_accounts (
            directory TEXT PRIMARY KEY,
            key_pem TEXT NOT NULL
        );
        CREATE TABLE acme_certificates (
            directory TEXT NOT NULL,
            name TEXT NOT NULL,
            bundle TEXT,
            fingerprint TEXT,
            status TEXT,
            updated_at TIMESTAMPTZ,
            PRIMARY KEY (directory, name)
        );
        CREATE TABLE acme_challenges (
            directory TEXT NOT NULL,
            token TEXT NOT NULL,
            key_authorization TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (directory, token)
        );
        CREATE TABLE acme_leases (
            directory TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL
        )
        """,
    ),
)
