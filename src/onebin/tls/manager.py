"""The maintenance loop: keep one certificate for the configured domains valid and served.

One background thread per process owns the loop and stops on an event. Every process
picks up whatever certificate the store holds, so several processes sharing a data
directory (or, with ``--database-url``, a database) all serve the newest one within
``FOLLOWER_INTERVAL``; only the process owning the store (a kernel lock, or a lease
in the database that it renews) talks to the CA. Failures are logged in one line and
retried on the schedule of ``policy.RetrySchedule``, whose memory of recent failures
lives in the stored status so that a restart or a change of owner cannot order
sooner; nothing here can stop the server from serving.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding

from onebin import metrics
from onebin.config import Settings
from onebin.errors import AcmeError
from onebin.tls.acme_client import AcmeIssuer
from onebin.tls.context import SwappableContext
from onebin.tls.policy import RetrySchedule, is_servable, renewal_time, seconds_until
from onebin.tls.storage import (
    CertificateStorage,
    CertificateStore,
    StoredCertificate,
    held,
    parse_certificate,
)

if TYPE_CHECKING:
    from onebin.store.database import Engine

logger = logging.getLogger("onebin.tls")

# Longest sleep of the owner: a bound on how late a changed clock or ARI answer is noticed.
OWNER_INTERVAL = 3600.0
# How often a process that does not own the lock looks for a certificate written by the owner.
FOLLOWER_INTERVAL = 2.0
# How long to wait before asking again after a CA failed to answer a renewal-info request.
ARI_RETRY = timedelta(hours=1)
DEFAULT_SCHEDULE = RetrySchedule()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _precise(moment: datetime) -> str:
    """For failure times: truncating to seconds could date a failure before the CA's."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(text: str | None) -> datetime | None:
    """A stored ISO time, or None for none or an unreadable one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        logger.warning("ignoring unreadable time %r in the certificate status", text)
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _RenewalInfo:
    serial: str
    suggested: datetime | None
    ask_again: datetime


class CertificateManager:
    """Keeps a certificate for ``domains`` in ``store`` and loaded into ``context``.

    ``clock`` and ``jitter`` exist so tests can move time and pin randomness; the CA,
    the files and the TLS context are always the real ones.
    """

    def __init__(
        self,
        domains: Sequence[str],
        store: CertificateStorage,
        issuer: AcmeIssuer,
        context: SwappableContext,
        *,
        clock: Callable[[], datetime] = utc_now,
        jitter: Callable[[], float] = random.random,
        schedule: RetrySchedule = DEFAULT_SCHEDULE,
        follower_interval: float = FOLLOWER_INTERVAL,
    ) -> None:
        self.domains = tuple(domains)
        self.name = self.domains[0]
        self.store = store
        self.issuer = issuer
        self.context = context
        self.clock = clock
        self.jitter = jitter
        self.schedule = schedule
        self.follower_interval = follower_interval
        # Failures outside an order (reading the cache, taking the lock): not the CA's business.
        self._errors = 0
        # What this process knows of failed orders even if writing the status failed.
        self._failed_at: set[datetime] = set()
        self._consecutive = 0
        self._planned: datetime | None = None
        self._announced_wait: datetime | None = None
        self._loaded: str | None = None
        self._owning = False
        self._renewal_info: _RenewalInfo | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve a still-valid cached certificate at once, then maintain in the background."""
        self.pick_up()
        self._thread = threading.Thread(target=self._run, name="onebin-tls", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end; an order in flight is abandoned when the process exits."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    delay = self.step()
                    self._errors = 0
                except Exception:
                    self._errors += 1
                    delay = self.schedule.delay(self._errors, self.jitter())
                    logger.exception("certificate maintenance failed; retrying in %.0fs", delay)
                self._stop.wait(delay)
        finally:
            self.store.lock.release()

    def step(self) -> float:
        """One pass of maintenance; returns the seconds until the next one."""
        self.pick_up()
        owning = self.store.lock.try_acquire()
        if owning != self._owning:
            self._owning = owning
            if owning:
                logger.info("this process now orders and renews the certificate for %s", self.name)
            else:
                logger.warning("another process took over the certificate for %s", self.name)
        if not owning:
            return self.follower_interval
        delay = self._maintain()
        hold = self.store.lock.hold_seconds
        # A lease must be renewed well before it runs out, or another process takes over.
        return delay if hold is None else min(delay, hold / 3)

    def _maintain(self) -> float:
        """The owner's pass: order when missing or due, else the seconds until due."""
        now = self.clock()
        stored = self.store.load_certificate(self.name)
        if stored is None or not set(self.domains) <= stored.domains:
            return self._order(now)
        due = self._renewal_time(stored, now)
        if now >= due:
            return self._order(now)
        self._record(renew_at=_iso(due))
        info = self._renewal_info
        wake = min(due, info.ask_again) if info is not None else due
        return seconds_until(wake, now, at_most=OWNER_INTERVAL)

    def pick_up(self) -> bool:
        """Load the stored certificate into the TLS context if it changed and is servable."""
        version = self.store.certificate_version(self.name)
        if version is None or version == self._loaded:
            return False
        bundle = self.store.load_bundle(self.name)
        if bundle is None:
            return False
        self._loaded = version  # a broken bundle is reported once, not on every pass
        stored = parse_certificate(bundle, f"stored certificate for {self.name}")
        if stored is None:
            return False
        if not is_servable(stored.not_before, stored.not_after, self.clock()):
            logger.warning("cached certificate for %s is not valid now; not serving it", self.name)
            return False
        try:
            self.context.load_pem(bundle)
        except ssl.SSLError as error:
            logger.error("cannot use the stored certificate for %s: %s", self.name, error)
            return False
        logger.info(
            "serving certificate for %s: serial %s from %s, valid until %s",
            ", ".join(sorted(stored.domains)),
            stored.serial,
            stored.issuer,
            _iso(stored.not_after),
        )
        return True

    def _renewal_time(self, stored: StoredCertificate, now: datetime) -> datetime:
        info = self._renewal_info
        if info is None or info.serial != stored.serial or now >= info.ask_again:
            info = self._ask_renewal_info(stored, now)
            self._renewal_info = info
        return renewal_time(stored.not_before, stored.not_after, info.suggested)

    def _ask_renewal_info(self, stored: StoredCertificate, now: datetime) -> _RenewalInfo:
        leaf_pem = stored.leaf.public_bytes(Encoding.PEM)
        try:
            suggested, ask_again = self.issuer.suggested_renewal(leaf_pem)
        except AcmeError as error:
            logger.warning("no renewal information for %s: %s", self.name, error)
            previous = self._renewal_info
            kept = previous.suggested if previous and previous.serial == stored.serial else None
            return _RenewalInfo(stored.serial, kept, now + ARI_RETRY)
        return _RenewalInfo(stored.serial, suggested, ask_again)

    def _order(self, now: datetime) -> float:
        """Order a certificate unless the retry schedule says to wait; the next delay."""
        failed_at, consecutive, planned = self._failure_record()
        limited = self.schedule.earliest_order(failed_at)
        ready = max((m for m in (planned, limited) if m is not None), default=None)
        if ready is not None and now < ready:
            if ready != self._announced_wait:
                self._announced_wait = ready
                logger.info(
                    "next order for %s at %s (%d failed orders in the last %.0f minutes)",
                    ", ".join(self.domains),
                    _iso(ready),
                    len(self.schedule.keep(failed_at, now)),
                    self.schedule.window / timedelta(minutes=1),
                )
            return seconds_until(ready, now, at_most=OWNER_INTERVAL)
        started = time.monotonic()
        try:
            with held(self.store.lock):
                issued = self.issuer.issue(self.domains)
        except AcmeError as error:
            return self._failed(str(error), failed_at, consecutive)
        except Exception as error:
            # A bug or a surprise from the ACME library: the order may still have
            # reached the CA, so it counts like any other failure.
            logger.exception("ordering a certificate for %s failed", ", ".join(self.domains))
            return self._failed(f"{type(error).__name__}: {error}", failed_at, consecutive)
        self._consecutive = 0
        self._planned = None
        self.store.save_certificate(self.name, issued.chain_pem, issued.key_pem)
        logger.info(
            "certificate for %s obtained in %.1fs",
            ", ".join(self.domains),
            time.monotonic() - started,
        )
        # The failure times stay: they still count against the CA's hourly limit.
        self._record(next_attempt=None, consecutive_failures=0)
        self.pick_up()
        return 0.0

    def _failure_record(self) -> tuple[list[datetime], int, datetime | None]:
        """Failed orders, consecutive failures and the planned retry: the store's and ours.

        Read before every order, so a new process, or one that has just become the
        owner, follows the history its predecessors left.
        """
        status = self.store.load_status(self.name)
        stored = {_moment(text) for text in status.failed_orders}
        failed_at = sorted({m for m in stored if m is not None} | self._failed_at)
        consecutive = max(status.consecutive_failures, self._consecutive)
        planned = [m for m in (_moment(status.next_attempt), self._planned) if m is not None]
        return failed_at, consecutive, max(planned, default=None)

    def _failed(self, error: str, failed_at: list[datetime], consecutive: int) -> float:
        """Remember a failed order, in memory first, then in the status file."""
        now = self.clock()  # the end of the order: never earlier than the CA's failure
        failed_at = self.schedule.keep([*failed_at, now], now)
        consecutive += 1
        retry = self.schedule.next_attempt(failed_at, consecutive, self.jitter())
        self._failed_at = set(failed_at)
        self._consecutive = consecutive
        self._planned = self._announced_wait = retry
        delay = (retry - now) / timedelta(seconds=1)
        metrics.recorder().renewal_failed(self.name)
        logger.warning(
            "no certificate for %s: %s (failure %d; retrying in %.0fs)",
            ", ".join(self.domains),
            error,
            consecutive,
            delay,
        )
        self._record(
            last_error=error,
            last_error_at=_iso(now),
            next_attempt=_iso(retry),
            failed_orders=tuple(_precise(moment) for moment in failed_at),
            consecutive_failures=consecutive,
        )
        return seconds_until(retry, now, at_most=OWNER_INTERVAL)

    def _record(self, **changes: str | int | tuple[str, ...] | None) -> None:
        status = self.store.load_status(self.name)
        updated = replace(status, **changes)
        if updated != status:
            self.store.save_status(self.name, updated)


def acme_store(settings: Settings, db: Engine | None = None) -> CertificateStorage:
    """Where this run keeps certificates: the database with ``--database-url`` (``db`` is
    that database, open), else files in the data directory."""
    if settings.database_url is not None and db is not None:
        from onebin.tls.database import DatabaseCertificateStore

        return DatabaseCertificateStore(db, settings.effective_acme_directory)
    return CertificateStore(settings.data_dir, settings.effective_acme_directory)


def certificate_manager(
    settings: Settings, context: SwappableContext, db: Engine | None = None
) -> CertificateManager:
    """The manager ``onebin serve`` runs for ``--domain``."""
    store = acme_store(settings, db)
    issuer = AcmeIssuer(
        store,
        directory_url=settings.effective_acme_directory,
        email=settings.acme_email,
        ca_file=settings.acme_ca_file,
    )
    return CertificateManager(settings.domain, store, issuer, context)
