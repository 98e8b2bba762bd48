from __future__ import annotations

import asyncio

import pytest

from onebin.errors import NotFound, StoreError
from onebin.store.tokens import TokenStore


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
    assert asyncio.run(store.verify(secret)) is None
    assert [r.name for r in store.list()] == ["old"]


def test_duplicate_name_and_unknown_revoke_are_clear_errors(db):
    store = TokenStore(db)
    store.create("same")
    with pytest.raises(StoreError, match="already exists"):
        store.create("same")
    with pytest.raises(NotFound):
        store.revoke("nobody")
