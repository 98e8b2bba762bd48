from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from onebin.tls.acme_client import AcmeIssuer
from onebin.tls.context import SwappableContext
from onebin.tls.manager import CertificateManager
from onebin.tls.policy import RetrySchedule
from onebin.tls.storage import CertificateStore
from tests.support import free_port
from tests.tls.handshake import served_serial_in_memory
from tests.tls.pebble import serve_challenges

pytestmark = pytest.mark.pebble


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def manager_for(store, directory, ca_file, clock=None, **options) -> CertificateManager:
    issuer = AcmeIssuer(store, directory_url=directory, ca_file=ca_file)
    return CertificateManager(
        ["app.test"], store, issuer, SwappableContext(), clock=clock or Clock(), **options
    )


def serial_in_store(store: CertificateStore) -> str:
    return store.load_certificate("app.test").serial


@pytest.mark.usefixtures("challenge_server")
def test_manager_obtains_then_sleeps_until_renewal(store, pebble):
    manager = manager_for(store, pebble.directory, pebble.ca_file)
    assert manager.step() == 0  # ordered and installed; look again at once
    assert served_serial_in_memory(manager.context.context, pebble.root_pem()) == serial_in_store(
        store
    )
    assert manager.step() > 3000  # Pebble's 5-year certificate: sleep the longest allowed
    assert store.load_status("app.test").renew_at is not None


@pytest.mark.usefixtures("challenge_server")
def test_manager_serves_cache_without_contacting_ca(store, pebble):
    first = manager_for(store, pebble.directory, pebble.ca_file)
    first.step()
    root = pebble.root_pem()
    pebble.stop()
    restarted = manager_for(store, pebble.directory, pebble.ca_file)
    assert restarted.pick_up()
    assert served_serial_in_memory(restarted.context.context, root) == serial_in_store(store)


def test_manager_renews_in_last_third_and_swaps(start_pebble, tmp_path, http_port):
    pebble = start_pebble(validity_seconds=300)
    store = CertificateStore(tmp_path / "data", pebble.directory)
    clock = Clock()
    manager = manager_for(store, pebble.directory, pebble.ca_file, clock)
    with serve_challenges(store, http_port):
        manager.step()
        old = serial_in_store(store)
        assert 150 < manager.step() <= 200  # renewal due 200 s after issuance
        clock.offset = timedelta(seconds=205)
        assert manager.step() == 0
    new = serial_in_store(store)
    assert new != old
    assert served_serial_in_memory(manager.context.context, pebble.root_pem()) == new


def test_manager_failure_backs_off_reports_then_recovers(start_pebble, tmp_path, http_port, caplog):
    port = free_port()
    directory = f"https://127.0.0.1:{port}/dir"
    store = CertificateStore(tmp_path / "data", directory)
    schedule = RetrySchedule(base=10, cap=100)
    clock = Clock()
    manager = manager_for(store, directory, None, clock, schedule=schedule, jitter=lambda: 0.5)
    with caplog.at_level(logging.WARNING, logger="onebin.tls"):
        assert manager.step() == 7.5
        clock.offset += timedelta(seconds=8)
        assert manager.step() == 15
    prefix = "no certificate for app.test: CA unreachable: could not connect"
    assert [r.getMessage() for r in caplog.records] == [
        f"{prefix} (failure 1; retrying in 8s)",
        f"{prefix} (failure 2; retrying in 15s)",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    status = store.load_status("app.test")
    assert status.last_error == "CA unreachable: could not connect"
    assert status.next_attempt is not None
    # Not a validation failure, but a failed order all the same: it is on record.
    assert len(status.failed_orders) == 2
    assert status.consecutive_failures == 2
    assert not manager.context.has_certificate

    pebble = start_pebble(port=port)
    manager.issuer.verify = str(pebble.ca_file)
    with serve_challenges(store, http_port):
        assert 0 < manager.step() <= 15  # the planned retry has not come yet
        clock.offset += timedelta(seconds=16)
        assert manager.step() == 0
    assert manager.context.has_certificate
    status = store.load_status("app.test")
    assert status.next_attempt is None
    assert status.consecutive_failures == 0
    assert len(status.failed_orders) == 2  # still within the CA's hour


@pytest.mark.usefixtures("challenge_server")
def test_manager_only_lock_owner_orders_and_followers_pick_up(store, pebble, tmp_path):
    owner = manager_for(store, pebble.directory, pebble.ca_file)
    other_store = CertificateStore(tmp_path / "data", pebble.directory)  # another process
    follower = manager_for(other_store, pebble.directory, pebble.ca_file, follower_interval=1.5)
    assert owner.step() == 0
    assert follower.step() == 1.5  # did not order: the lock is taken
    root = pebble.root_pem()
    assert served_serial_in_memory(follower.context.context, root) == serial_in_store(store)
    owner.store.lock.release()  # the owner process went away
    assert follower.step() > 1.5  # now the owner: the certificate is fresh, it waits


def test_manager_stops_at_five_failed_orders_an_hour_even_across_a_restart(
    start_pebble, tmp_path, caplog
):
    pebble = start_pebble(http_port=free_port())  # validates a port nobody listens on
    store = CertificateStore(tmp_path / "data", pebble.directory)
    schedule = RetrySchedule(base=2, cap=4)  # a backoff that alone would allow many
    clock = Clock()
    # No jitter: a wait set by the hourly limit is otherwise spread over up to 2 s more,
    # which the bound on the last order's delay below does not allow for.
    manager = manager_for(
        store, pebble.directory, pebble.ca_file, clock, schedule=schedule, jitter=lambda: 0.0
    )
    delays = []
    for failures in range(1, 6):
        delays.append(manager.step())
        status = store.load_status("app.test")
        assert status.last_error.startswith("challenge failed: app.test")
        assert len(status.failed_orders) == failures
        clock.offset += timedelta(seconds=5)
    assert all(delay <= 4 for delay in delays[:4])
    first = datetime.fromisoformat(status.failed_orders[0])
    limit = first + timedelta(hours=1)
    # After the fifth failure of the hour, the next order waits until the first leaves it.
    assert delays[4] > 3000
    assert datetime.fromisoformat(status.next_attempt) >= limit - timedelta(seconds=1)

    waited = manager.step()
    assert seconds_until_limit(limit, clock) <= waited <= seconds_until_limit(limit, clock) + 2
    assert store.load_status("app.test") == status

    # Another process (a restart) reads the history before its first order.
    manager.store.lock.release()
    restarted_store = CertificateStore(tmp_path / "data", pebble.directory)
    restarted = manager_for(
        restarted_store,
        pebble.directory,
        pebble.ca_file,
        clock,
        schedule=schedule,
        jitter=lambda: 0.0,
    )
    with caplog.at_level(logging.INFO, logger="onebin.tls"):
        assert restarted.step() >= seconds_until_limit(limit, clock)
    assert store.load_status("app.test") == status
    assert "next order for app.test at" in caplog.text
    assert "5 failed orders in the last 60 minutes" in caplog.text

    clock.offset = limit - datetime.now(UTC) + timedelta(seconds=3)
    assert restarted.step() <= 4  # ordered, and failed once more
    after = store.load_status("app.test")
    assert after.consecutive_failures == 6
    assert after.last_error_at != status.last_error_at
    # The failures that left the window are forgotten; the rule needs only the rest.
    assert datetime.fromisoformat(after.failed_orders[0]) > first


def seconds_until_limit(limit: datetime, clock: Clock) -> float:
    return (limit - clock()) / timedelta(seconds=1)
