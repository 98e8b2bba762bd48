"""The certificate store contract on both implementations, and the database lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from onebin.config import LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING
from onebin.store.limiter import MIGRATIONS as LIMITER_MIGRATIONS
from onebin.store.postgres import PostgresDatabase
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.tls.database import DatabaseCertificateStore, Lease
from onebin.tls.storage import CertificateStatus, CertificateStorage, CertificateStore, held
from onebin.tls.tables import MIGRATIONS as TLS_MIGRATIONS
from tests.support import wait_until

TABLES = [*TOKEN_MIGRATIONS, *LIMITER_MIGRATIONS, *TLS_MIGRATIONS]


@pytest.fixture
def database(postgres_url: str) -> Iterator[PostgresDatabase]:
    with PostgresDatabase(postgres_url, TABLES) as db:
        yield db


@pytest.fixture(params=["files", "postgresql"])
def stores(request, tmp_path: Path) -> Iterator[tuple[CertificateStorage, CertificateStorage]]:
    """Two processes' views of one store: what one writes the other reads."""
    if request.param == "files":
        yield (
            CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION),
            CertificateStore(tmp_path, LETS_ENCRYPT_PRODUCTION),
        )
        return
    url = request.getfixturevalue("postgres_url")
    with PostgresDatabase(url, TABLES) as one, PostgresDatabase(url, TABLES) as two:
        yield (
            DatabaseCertificateStore(one, LETS_ENCRYPT_PRODUCTION),
            DatabaseCertificateStore(two, LETS_ENCRYPT_PRODUCTION),
        )


def bundle(name: str = "app.test") -> tuple[bytes, bytes]:
    leaf = trustme.CA().issue_cert(name)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return chain, leaf.private_key_pem.bytes()


# The contract, on both implementations


def test_storage_missing_things_load_as_none_or_empty(stores):
    store, _ = stores
    assert store.load_account_key() is None
    assert store.load_certificate("app.test") is None
    assert store.load_bundle("app.test") is None
    assert store.certificate_version("app.test") is None
    assert store.load_status("app.test") == CertificateStatus()
    assert asyncio.run(store.challenge_answer("nothing-here")) is None


def test_storage_certificate_and_key_travel_together_to_other_processes(stores):
    writer, reader = stores
    chain, key = bundle()
    writer.save_certificate("app.test", chain, key)
    loaded = reader.load_certificate("app.test")
    assert loaded is not None
    assert loaded.domains == {"app.test"}
    stored = reader.load_bundle("app.test")
    assert stored is not None
    assert stored.startswith(chain.rstrip(b"\n"))
    assert stored.endswith(key)


def test_storage_version_changes_with_every_new_certificate(stores):
    writer, reader = stores
    writer.save_certificate("app.test", *bundle())
    first = reader.certificate_version("app.test")
    assert first is not None
    assert reader.certificate_version("app.test") == first  # stable while unchanged
    writer.save_certificate("app.test", *bundle())
    assert reader.certificate_version("app.test") not in {None, first}


def test_storage_account_key_and_status_round_trip(stores):
    writer, reader = stores
    writer.save_account_key(b"-----BEGIN PRIVATE KEY-----\nxyz\n")
    assert reader.load_account_key() == b"-----BEGIN PRIVATE KEY-----\nxyz\n"
    status = CertificateStatus(renew_at="2030-01-01T00:00:00+00:00", consecutive_failures=2)
    writer.save_status("app.test", status)
    assert reader.load_status("app.test") == status
    writer.save_certificate("app.test", *bundle())  # a certificate leaves the status alone
    assert reader.load_status("app.test") == status


def test_storage_challenge_is_answered_by_any_process_until_deleted(stores):
    writer, reader = stores
    writer.put_challenge("tok-EN_1", "tok-EN_1.thumbprint")
    assert asyncio.run(reader.challenge_answer("tok-EN_1")) == b"tok-EN_1.thumbprint"
    writer.delete_challenge("tok-EN_1")
    assert asyncio.run(reader.challenge_answer("tok-EN_1")) is None


@pytest.mark.parametrize("token", ["../account.key", "a/b", "", "x" * 300, "tok en"])
def test_storage_refuses_what_is_no_acme_token(stores, token):
    store, _ = stores
    with pytest.raises(ValueError, match="not an ACME token"):
        store.put_challenge(token, "answer")
    assert asyncio.run(store.challenge_answer(token)) is None


def test_storage_ownership_is_exclusive_until_released(stores):
    first, second = stores
    assert first.lock.try_acquire()
    assert first.lock.try_acquire()  # kept (and renewed) by its holder
    assert not second.lock.try_acquire()
    first.lock.release()
    assert second.lock.try_acquire()
    second.lock.release()


# The database's own rules


def test_database_store_keeps_staging_and_production_apart(database):
    production = DatabaseCertificateStore(database, LETS_ENCRYPT_PRODUCTION)
    staging = DatabaseCertificateStore(database, LETS_ENCRYPT_STAGING)
    production.save_account_key(b"production key")
    production.save_certificate("app.test", *bundle())
    assert staging.load_account_key() is None
    assert staging.load_certificate("app.test") is None
    assert production.lock.try_acquire()
    assert staging.lock.try_acquire()  # a lease per ACME directory


def test_lease_of_a_dead_owner_is_taken_over_once_it_expires(database):
    owner = Lease(database, LETS_ENCRYPT_PRODUCTION, seconds=0.5)
    other = Lease(database, LETS_ENCRYPT_PRODUCTION, seconds=0.5)
    assert owner.try_acquire()
    assert not other.try_acquire()
    # The owner stops renewing (SIGKILL): nothing releases its row.
    time.sleep(0.7)
    assert other.try_acquire()
    assert not owner.try_acquire()  # and the old owner knows it lost


def test_lease_renewal_keeps_a_live_owner(database):
    owner = Lease(database, LETS_ENCRYPT_PRODUCTION, seconds=0.6)
    other = Lease(database, LETS_ENCRYPT_PRODUCTION, seconds=0.6)
    assert owner.try_acquire()
    for _ in range(5):  # 1 s in all, renewed every 0.2 s: never expires
        time.sleep(0.2)
        assert owner.try_acquire()
        assert not other.try_acquire()


def test_lease_is_taken_by_exactly_one_of_many_racing_processes(postgres_url):
    databases = [PostgresDatabase(postgres_url, TABLES) for _ in range(8)]
    for db in databases:
        db.open()
    try:
        leases = [Lease(db, LETS_ENCRYPT_PRODUCTION) for db in databases]

        async def race() -> list[bool]:
            loop = asyncio.get_running_loop()
            return await asyncio.gather(
                *(loop.run_in_executor(None, lease.try_acquire) for lease in leases)
            )

        assert sum(asyncio.run(race())) == 1
    finally:
        for db in databases:
            db.close()


def test_a_long_order_keeps_its_lease_and_lets_it_go_after(database):
    """An order longer than the lease: the owner keeps renewing while it runs."""
    owner = Lease(database, LETS_ENCRYPT_PRODUCTION, seconds=0.6)
    other = Lease(database, LETS_ENCRYPT_PRODUCTION, seconds=0.6)
    assert owner.try_acquire()
    with held(owner):  # the order takes 2 s, over three times the lease
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            assert not other.try_acquire()
    # Renewal stops with the order: once the lease runs out, another may own.
    wait_until(other.try_acquire, timeout=5, what="the lease to expire after the order")
