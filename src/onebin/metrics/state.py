"""Metrics read when scraped: what lives in the database or on disk, not in a process.

Certificates, jobs and backups are shared by every worker (and replica), so their
truth is where they are stored; counting them in process memory would give each
worker its own, differently stale, idea of them. A scrape reads them afresh, off
the event loop, and a part that cannot be read (the database down) is left out of
that scrape with one log line a minute, while the rest is still served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from onebin.app import Context
from onebin.console.backups import list_backups
from onebin.console.overview import backups_supported
from onebin.logs import RepeatLimiter
from onebin.store.database import Engine
from onebin.tls.status import tls_status

logger = logging.getLogger("onebin")
failures = RepeatLimiter(logger, window=60.0)


@dataclass(frozen=True)
class Stored:
    """What a scrape read from storage; None or empty for a part not read."""

    certificates: Mapping[str, float] = field(default_factory=dict)  # domain -> expiry (epoch)
    jobs: Mapping[str, int] | None = None  # state -> count
    oldest_due: float | None = None  # seconds the oldest due job has waited
    last_backup: float | None = None  # epoch seconds of the newest backup file


def last_backup(directory: Path) -> float | None:
    """When the newest backup in ``directory`` was taken; None without one.

    A backup's file exists only once its copy was verified and renamed into place,
    so the newest one marks the last success.
    """
    files = list_backups(directory)
    return files[0].created_at.timestamp() if files else None


def certificate_expiry(context: Context) -> dict[str, float]:
    """Each served domain's certificate expiry (epoch seconds); blocking."""
    # onebin's own context: its ``db`` is the engine, which certificates need.
    db = cast(Engine, context.db)
    return {
        entry.domain: entry.certificate.not_after.timestamp()
        for entry in tls_status(context.settings, db=db)
        if entry.certificate is not None
    }


async def read_stored(context: Context) -> Stored:
    """Everything ``StoredCollector`` shows, read now."""
    settings = context.settings
    certificates: dict[str, float] = {}
    jobs = oldest = backup = None
    try:
        if settings.https_enabled:
            certificates = await asyncio.to_thread(certificate_expiry, context)
    except Exception as error:
        failures.log(logging.WARNING, "certificates", f"metrics: certificates unread: {error}")
    try:
        jobs = await context.jobs.counts()
        oldest = (await context.jobs.backlog()).oldest_age
    except Exception as error:
        failures.log(logging.WARNING, "jobs", f"metrics: jobs unread: {error}")
    if backups_supported(settings):
        try:
            backup = await asyncio.to_thread(last_backup, settings.backup_dir)
            if backup is None and settings.backup_every is not None:
                backup = 0.0  # due and never taken: as old as can be, so an alert fires
        except OSError as error:
            failures.log(logging.WARNING, "backups", f"metrics: backups unread: {error}")
    return Stored(certificates, jobs, oldest, backup)


class StoredCollector(Collector):
    """``stored`` as Prometheus metric families, for one scrape's registry."""

    def __init__(self, stored: Stored) -> None:
        self.stored = stored

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stored = self.stored
        if stored.certificates:
            expiry = GaugeMetricFamily(
                "onebin_certificate_expiry_timestamp_seconds",
                "When the certificate served for a domain expires (Unix time)",
                labels=("domain",),
            )
            for domain, moment in sorted(stored.certificates.items()):
                expiry.add_metric((domain,), moment)
            yield expiry
        if stored.jobs is not None:
            jobs = GaugeMetricFamily("onebin_jobs", "Background jobs by state", labels=("state",))
            for state, count in stored.jobs.items():
                jobs.add_metric((state,), count)
            yield jobs
        if stored.oldest_due is not None:
            yield GaugeMetricFamily(
                "onebin_jobs_oldest_due_age_seconds",
                "How long the oldest job due to run has waited (0 with none due)",
                value=stored.oldest_due,
            )
        if stored.last_backup is not None:
            yield GaugeMetricFamily(
                "onebin_backup_last_success_timestamp_seconds",
                "When the newest verified backup in the data directory was taken (Unix time)",
                value=stored.last_backup,
            )
