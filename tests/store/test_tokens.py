from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from onebin.compose import app_migrations
from onebin.errors import NotFound, StoreError
from onebin.items import app as items_app
from onebin.store import tokens
from onebin.store.backup import backup
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import MIGRATIONS, TokenStore, carry_revocations


def verifies(store: TokenStore, secret: str) -> bool:
    return asyncio.run(store.verify(secret)) is not None


def test_token_is_shown_once_and_only_its_hash_is_stored(db, settings):
    secret, record = TokenStore(db).create("deploy")
    assert secret.startswith("ob_")
    assert len(secret) > 40
    assert record.name == "deploy"
    assert secret.encode() not in settings.database_path.read_bytes()
    wal = settings.database_path.with_name(settings.database_path.name + "-wal")
    assert not wal.exists() or secret.encode() not in wal.read_bytes()


def test_verify_accepts_live_token_and_rejects_others(db):
    store = TokenStore(db)
    secret, record = store.create("ci")
    assert asyncio.run(store.verify(secret)) == record
    assert asyncio.run(store.verify(secret + "x")) is None
    assert asyncio.run(store.verify("")) is None


def test_revoked_token_no_longer_verifies(db):
    store = TokenStore(db)
    secret, _ = store.create("old")
    revoked = store.revoke("old")
    assert revoked.revoked_at is not None
    assert not verifies(store, secret)
    assert [r.name for r in store.list()] == ["old"]


def test_duplicate_active_name_is_refused_with_the_way_out(db):
    store = TokenStore(db)
    store.create("same")
    with pytest.raises(StoreError, match=r"'same' already exists \(revoke it, or use --replace\)"):
        store.create("same")


def test_revoke_of_an_unknown_name_is_not_found(db):
    with pytest.raises(NotFound, match=r"^no active token named 'nobody'$"):
        TokenStore(db).revoke("nobody")


def test_revoke_of_a_revoked_name_says_it_already_is(db):
    store = TokenStore(db)
    store.create("old")
    revoked = store.revoke("old")
    message = f"no active token named 'old': it was already revoked at {revoked.revoked_at}"
    with pytest.raises(NotFound, match=re.escape(message)):
        store.revoke("old")


def test_revoked_name_can_be_used_again_and_list_shows_every_row(db):
    store = TokenStore(db)
    first, _ = store.create("me")
    store.revoke("me")
    second, record = store.create("me")
    assert verifies(store, second)
    assert not verifies(store, first)
    listed = store.list()
    assert [(r.name, r.revoked_at is None) for r in listed] == [("me", False), ("me", True)]
    assert listed[1] == record


def test_revoke_hits_only_the_active_token_of_a_reused_name(db):
    store = TokenStore(db)
    store.create("me")
    old = store.revoke("me")
    secret, live = store.create("me")
    revoked = store.revoke("me")
    assert revoked.id == live.id
    assert store.list()[0] == old  # the earlier revocation keeps its time
    assert not verifies(store, secret)


def test_replace_revokes_the_active_token_and_creates_a_new_one(db):
    store = TokenStore(db)
    first, old = store.create("me")
    second, new = store.create("me", replace=True)
    third, newest = store.create("me", replace=True)  # a rerun tour works every time
    assert not verifies(store, first)
    assert not verifies(store, second)
    assert asyncio.run(store.verify(third)) == newest
    assert [r.id for r in store.list()] == [old.id, new.id, newest.id]
    assert [r.revoked_at is None for r in store.list()] == [False, False, True]


def test_replace_without_an_active_token_just_creates_one(db):
    secret, record = TokenStore(db).create("fresh", replace=True)
    assert record.name == "fresh"
    assert verifies(TokenStore(db), secret)


def test_replace_that_fails_keeps_the_old_token_active(db, monkeypatch):
    """The revoke and the insert are one transaction: no moment without a token."""
    store = TokenStore(db)
    secret, _ = store.create("me")
    # The next secret repeats an existing token's, so the insert breaks token_hash UNIQUE.
    monkeypatch.setattr(tokens.secrets, "token_urlsafe", lambda n: secret.removeprefix("ob_"))
    with pytest.raises(StoreError):
        store.create("me", replace=True)
    assert verifies(store, secret)
    assert [r.revoked_at for r in store.list()] == [None]


def test_a_version_1_database_is_migrated_with_its_tokens_still_valid(settings):
    """A file made before names could be reused and before admin tokens: same ids,
    same secrets, same states, and no token gains admin rights."""
    live, gone = "ob_live-secret", "ob_gone-secret"
    v1 = SQLiteDatabase(settings.database_path, MIGRATIONS[:1])
    v1.open()
    try:

        def fill(conn):
            insert = (
                "INSERT INTO tokens (name, token_hash, created_at, revoked_at) VALUES (?, ?, ?, ?)"
            )
            conn.execute(insert, ("ci", tokens.hash_token(live), "2025-01-01T00:00:00+00:00", None))
            conn.execute(
                insert,
                (
                    "old",
                    tokens.hash_token(gone),
                    "2025-01-02T00:00:00+00:00",
                    "2025-02-01T00:00:00+00:00",
                ),
            )

        v1.write_sync(fill)
        before = v1.read_sync(
            lambda conn: [
                tuple(row)
                for row in conn.execute(
                    "SELECT id, name, created_at, revoked_at FROM tokens ORDER BY id"
                )
            ]
        )
        with pytest.raises(sqlite3.IntegrityError):  # v1: a revoked name is taken for good
            v1.write_sync(
                lambda conn: conn.execute(
                    "INSERT INTO tokens (name, token_hash, created_at) VALUES ('old', 'x', 'now')"
                )
            )
    finally:
        v1.close()

    db = SQLiteDatabase(settings.database_path, app_migrations(items_app))
    db.open()
    try:
        store = TokenStore(db)
        records = store.list()
        assert [(r.id, r.name, r.created_at, r.revoked_at) for r in records] == before
        assert not any(r.admin for r in records)
        assert asyncio.run(store.verify(live)) == records[0]
        assert not verifies(store, gone)
        with pytest.raises(StoreError, match="already exists"):
            store.create("ci")
        again, record = store.create("old")
        assert verifies(store, again)
        assert record.id > max(r.id for r in records)
    finally:
        db.close()


def test_carry_revocations_matches_tokens_by_hash_when_names_repeat(db, settings, tmp_path):
    """The backup and the live file both have a "me"; only the same secret is the same token."""
    store = TokenStore(db)
    first, _ = store.create("me")
    second, _ = store.create("me", replace=True)
    kept = tmp_path / "backup.sqlite3"
    backup(settings.database_path, kept)  # "me": first revoked, second active
    third, _ = store.create("me", replace=True)  # second revoked since the backup
    db.close()

    assert carry_revocations(settings.database_path, kept) == 1

    restored = SQLiteDatabase(kept, app_migrations(items_app))  # the db fixture's
    restored.open()
    try:
        store = TokenStore(restored)
        assert not verifies(store, first)
        assert not verifies(store, second)
        assert not verifies(store, third)  # made after the backup: not in it
        assert [r.name for r in store.list()] == ["me", "me"]
        # With every "me" revoked, the restored file can take a new one.
        assert verifies(store, store.create("me")[0])
    finally:
        restored.close()


@pytest.mark.parametrize("name", ["", " me", "a\nb", "\x1b[31mred", "x" * 65])
def test_a_token_name_is_printable_and_short(db, name):
    with pytest.raises(StoreError, match="a token name is 1-64 printable characters"):
        TokenStore(db).create(name)


def test_a_token_name_may_be_any_printable_text(db):
    assert TokenStore(db).create("Zoë's laptop")[1].name == "Zoë's laptop"


def test_admin_tokens_are_marked_on_both_engines(engine_db):
    store = TokenStore(engine_db)
    _, write = store.create("writer")
    secret, admin = store.create("boss", admin=True)
    assert (write.admin, admin.admin) == (False, True)
    assert asyncio.run(store.verify(secret)) == admin
    assert {r.name: r.admin for r in store.list()} == {"writer": False, "boss": True}
