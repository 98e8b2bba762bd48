from __future__ import annotations

import stat

import pytest
import trustme

from onebin.config import LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING
from onebin.store.lock import OwnerLock
from onebin.tls.storage import CertificateStatus, CertificateStore, write_atomic


def test_store_staging_and_production_never_share_a_directory(tmp_path):
    production = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    staging = CertificateStore(tmp_path, LETS_ENCRYPT_STAGING)
    production.save_account_key(b"production key")
    assert production.root != staging.root
    assert staging.load_account_key() is None
    assert production.root.name.startswith("acme-v02.api.letsencrypt.org-")


def test_store_missing_files_load_as_none_or_empty(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    assert store.load_account_key() is None
    assert store.load_certificate("app.test") is None
    assert store.load_status("app.test") == CertificateStatus()


def test_store_certificate_bundle_is_private_and_readable(tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("app.test")
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.save_certificate("app.test", chain, leaf.private_key_pem.bytes())
    path = store.certificate_path("app.test")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    loaded = store.load_certificate("app.test")
    assert loaded.domains == {"app.test"}
    assert loaded.serial == format(loaded.leaf.serial_number, "x")


def test_write_atomic_replaces_without_leftovers(tmp_path):
    target = tmp_path / "dir" / "file"
    write_atomic(target, b"old", mode=0o644)
    write_atomic(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["file"]


def test_store_status_round_trips(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    status = CertificateStatus(last_error="CA unreachable", last_error_at="2026-01-01T00:00:00")
    store.save_status("app.test", status)
    assert store.load_status("app.test") == status


def test_store_challenge_round_trip_and_delete(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.put_challenge("tok_EN-1", "tok_EN-1.thumbprint")
    assert store.get_challenge("tok_EN-1") == b"tok_EN-1.thumbprint"
    store.delete_challenge("tok_EN-1")
    assert store.get_challenge("tok_EN-1") is None


@pytest.mark.parametrize("token", ["../account.key", "a/b", "", "a" * 300, "..", "x.y"])
def test_store_challenge_refuses_non_token_names(tmp_path, token):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.save_account_key(b"secret")
    assert store.get_challenge(token) is None
    with pytest.raises(ValueError, match="not an ACME token"):
        store.put_challenge(token, "x")


def test_owner_lock_is_exclusive_until_released(tmp_path):
    first, second = OwnerLock(tmp_path / "owner.lock"), OwnerLock(tmp_path / "owner.lock")
    assert first.try_acquire()
    assert first.try_acquire()  # re-entrant for its holder
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_store_status_keeps_failure_history(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    status = CertificateStatus(
        failed_orders=("2026-01-01T00:00:00.250000+00:00", "2026-01-01T00:01:00+00:00"),
        consecutive_failures=2,
    )
    store.save_status("app.test", status)
    assert store.load_status("app.test") == status


def test_store_status_ignores_fields_it_does_not_know(tmp_path):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.save_status("app.test", CertificateStatus(renew_at="2026-01-01T00:00:00"))
    path = store.root / "app.test.json"
    path.write_text(path.read_text().replace("{", '{"from_a_newer_version": 1,', 1))
    assert store.load_status("app.test") == CertificateStatus(renew_at="2026-01-01T00:00:00")


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"failed_orders": [1, 2]}', '{"failed_orders": "abc"}']
)
def test_store_damaged_status_counts_as_missing(tmp_path, caplog, content):
    store = CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION)
    store.save_status("app.test", CertificateStatus())
    (store.root / "app.test.json").write_text(content)
    assert store.load_status("app.test") == CertificateStatus()
    assert "ignoring unreadable status file" in caplog.text
