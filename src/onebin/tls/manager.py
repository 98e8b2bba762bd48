"""The maintenance loop: keep one certificate for the configured domains valid and served.

One background thread per process owns the loop and stops on an event. Every process
picks up whatever certificate the cache holds, so several processes sharing a data
directory all serve the newest one; only the process holding the store's owner lock
talks to the CA. Failures are logged in one line and retried on a capped, jittered
backoff; nothing here can stop the server from serving.
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

from cryptography.hazmat.primitives.serialization import Encoding

from onebin.config import Settings
from onebin.errors import AcmeError
from onebin.tls.acme_client import AcmeIssuer
from onebin.tls.context import SwappableContext
from onebin.tls.policy import Backoff, is_servable, renewal_time, seconds_until
from onebin.tls.storage import CertificateStore, StoredCertificate

logger = logging.getLogger("onebin.tls")

# Longest sleep of the owner: a bound on how late a changed clock or ARI answer is noticed.
OWNER_INTERVAL = 3600.0
# How often a process that does not own the lock looks for a certificate written by the owner.
FOLLOWER_INTERVAL = 2.0
# How long to wait before asking again after a CA failed to answer a renewal-info request.
ARI_RETRY = timedelta(hours=1)
DEFAULT_BACKOFF = Backoff()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


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
        store: CertificateStore,
        issuer: AcmeIssuer,
        context: SwappableContext,
        *,
        clock: Callable[[], datetime] = utc_now,
        jitter: Callable[[], float] = random.random,
        backoff: Backoff = DEFAULT_BACKOFF,
        follower_interval: float = FOLLOWER_INTERVAL,
    ) -> None:
        self.domains = tuple(domains)
        self.name = self.domains[0]
        self.store = store
        self.issuer = issuer
        self.context = context
        self.clock = clock
        self.jitter = jitter
        self.backoff = backoff
        self.follower_interval = follower_interval
        self._failures = 0
        self._loaded: tuple[int, int, int] | None = None
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
                except Exception:
                    self._failures += 1
                    delay = self.backoff.delay(self._failures, self.jitter())
                    logger.exception("certificate maintenance failed; retrying in %.0fs", delay)
                self._stop.wait(delay)
        finally:
            self.store.lock.release()

    def step(self) -> float:
        """One pass of maintenance; returns the seconds until the next one."""
        self.pick_up()
        if not self.store.lock.try_acquire():
            return self.follower_interval
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
        """Load the cached certificate into the TLS context if it changed and is servable."""
        path = self.store.certificate_path(self.name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if signature == self._loaded:
            return False
        self._loaded = signature  # a broken file is reported once, not on every pass
        stored = self.store.load_certificate(self.name)
        if stored is None:
            return False
        if not is_servable(stored.not_before, stored.not_after, self.clock()):
            logger.warning("cached certificate for %s is not valid now; not serving it", self.name)
            return False
        try:
            self.context.load(path)
        except ssl.SSLError as error:
            logger.error("cannot use the certificate in %s: %s", path, error)
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
        started = time.monotonic()
        try:
            issued = self.issuer.issue(self.domains)
        except AcmeError as error:
            self._failures += 1
            delay = self.backoff.delay(self._failures, self.jitter())
            logger.warning(
                "no certificate for %s: %s (failure %d; retrying in %.0fs)",
                ", ".join(self.domains),
                error,
                self._failures,
                delay,
            )
            self._record(
                last_error=str(error),
                last_error_at=_iso(now),
                next_attempt=_iso(now + timedelta(seconds=delay)),
            )
            return delay
        self._failures = 0
        self.store.save_certificate(self.name, issued.chain_pem, issued.key_pem)
        logger.info(
            "certificate for %s obtained in %.1fs",
            ", ".join(self.domains),
            time.monotonic() - started,
        )
        self._record(next_attempt=None)
        self.pick_up()
        return 0.0

    def _record(self, **changes: str | None) -> None:
        status = self.store.load_status(self.name)
        updated = replace(status, **changes)
        if updated != status:
            self.store.save_status(self.name, updated)


def acme_store(settings: Settings) -> CertificateStore:
    return CertificateStore(settings.data_dir, settings.effective_acme_directory)


def certificate_manager(settings: Settings, context: SwappableContext) -> CertificateManager:
    """The manager ``onebin serve`` runs for ``--domain``."""
    store = acme_store(settings)
    issuer = AcmeIssuer(
        store,
        directory_url=settings.effective_acme_directory,
        email=settings.acme_email,
        ca_file=settings.acme_ca_file,
    )
    return CertificateManager(settings.domain, store, issuer, context)
