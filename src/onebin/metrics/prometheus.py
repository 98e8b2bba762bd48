"""The metrics of one serving process, kept by ``prometheus_client`` in multiprocess mode.

With ``--workers N`` a scrape lands on any one worker, yet must show the whole
server, so every worker writes its counts to memory-mapped files in one directory
(``onebin.metrics.directory``) and a scrape sums the files of all of them. Each
worker's files are named by its worker number, not its process id: a worker that
dies is replaced under the same number, and its replacement opens the same files
and counts on from where the dead one stopped. So a restart neither loses counts
nor counts them twice, and however often workers are replaced the directory
holds one set of files per worker number.

Gauges are per-process values summed over the live workers (``livesum``): the
supervisor deletes a dead worker's gauge files (``forget_worker``) before it starts
the replacement. Values that live in the database or on disk (certificates, jobs,
backups) are not kept here but read when scraped (``onebin.metrics.state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram, values

from onebin.metrics import Recorder
from onebin.metrics.labels import REFUSAL_CAUSES, RouteLabels, method_label, refusal_cause
from onebin.server.access import RequestRecord
from onebin.store.database import Connection, Engine
from onebin.types import Scope

T = TypeVar("T")

# Seconds. A request's answer, from the API's sub-millisecond lookups to a slow search.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A query or a durable commit: an fsync is about a millisecond, a deadline seconds.
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# How often a process copies its gauges (open connections, writes waiting) into its
# file: a scrape every few seconds sees them at most this old.
SAMPLE_SECONDS = 1.0


def use_worker_files(number: int | None) -> None:
    """Make the metrics created from now on in this process write to the files of
    worker ``number`` (0 for a server without ``--workers``).

    ``prometheus_client`` names the files by process id by default; a number is
    just as distinct among the processes running at one time, which is all it asks.
    """
    identity = str(number or 0)
    values.ValueClass = values.MultiProcessValue(lambda: identity)


def timed(call: Callable[..., Awaitable[T]], took: Histogram) -> Callable[..., Awaitable[T]]:
    """``call`` (a database's way in) with the time its caller waits put in ``took``."""

    async def timed_call(fn: Callable[[Connection], T], **options: Any) -> T:
        started = time.perf_counter()
        try:
            return await call(fn, **options)
        finally:
            took.observe(time.perf_counter() - started)

    return timed_call


class PrometheusRecorder(Recorder):
    """Every metric this process updates; create one per process, after
    ``use_worker_files``."""

    def __init__(self) -> None:
        # registry=None: the scrape reads the files of every worker, not these objects.
        self.requests = Counter(
            "onebin_http_requests_total",
            "HTTP requests answered, by route template, method and status",
            ("route", "method", "status"),
            registry=None,
        )
        self.request_seconds = Histogram(
            "onebin_http_request_duration_seconds",
            "Time from a request's start until its answer ended, by route template and method",
            ("route", "method"),
            buckets=HTTP_BUCKETS,
            registry=None,
        )
        self.connections = Gauge(
            "onebin_connections_open",
            "Open client connections (TLS handshakes included), all workers",
            multiprocess_mode="livesum",
            registry=None,
        )
        self.refusals = Counter(
            "onebin_connections_refused_total",
            "Connections and requests refused before the app saw them, and bad-token "
            "floods answered 429, by cause",
            ("cause",),
            registry=None,
        )
        for cause in REFUSAL_CAUSES:
            self.refusals.labels(cause)
        self.query_seconds = Histogram(
            "onebin_db_query_duration_seconds",
            "Time of a database read as its caller waits for it (lookup or read), "
            "waiting for a connection included",
            ("kind",),
            buckets=DB_BUCKETS,
            registry=None,
        )
        self.write_seconds = Histogram(
            "onebin_db_write_duration_seconds",
            "Time of a database write as its caller waits for it, until its commit is durable",
            buckets=DB_BUCKETS,
            registry=None,
        )
        self.writes_waiting = Gauge(
            "onebin_db_write_queue_depth",
            "Database writes asked for and not yet committed, all workers",
            multiprocess_mode="livesum",
            registry=None,
        )
        self.renewal_failures = Counter(
            "onebin_certificate_renewal_failures_total",
            "Failed certificate orders, by certificate (its first domain)",
            ("domain",),
            registry=None,
        )
        self.routes = RouteLabels()
        self.pending_writes = 0
        # Label children by their values: prometheus_client's own lookup takes a lock.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def refused(self, cause: str) -> None:
        self.refusals.labels(refusal_cause(cause)).inc()

    def renewal_failed(self, domain: str) -> None:
        self.renewal_failures.labels(domain).inc()

    def observe(self, record: RequestRecord, scope: Scope) -> None:
        """An access-log observer: count the request and its duration."""
        route = self.routes.label(scope, record.status)
        key = (route, record.method, record.status)
        children = self._request_children.get(key)
        if children is None:
            method = method_label(record.method)
            children = (
                self.requests.labels(route, method, str(record.status)),
                self.request_seconds.labels(route, method),
            )
            if method != "other":  # a made-up method must not grow this dict either
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(record.duration)

    def time_database(self, db: Engine) -> None:
        """Time ``db``'s three ways in (``lookup``, ``read``, ``write``) from now on.

        They are wrapped on this one object, so without ``--metrics`` the engines
        run untouched; the time is what the caller waits, queueing included.
        """
        write = db.write

        async def counted_write(fn: Callable[[Connection], T], **options: Any) -> T:
            self.pending_writes += 1
            try:
                return await write(fn, **options)
            finally:
                self.pending_writes -= 1

        db.lookup = timed(db.lookup, self.query_seconds.labels("lookup"))  # type: ignore[method-assign]
        db.read = timed(db.read, self.query_seconds.labels("read"))  # type: ignore[method-assign]
        db.write = timed(counted_write, self.write_seconds)  # type: ignore[method-assign]

    async def sample(self, open_connections: Callable[[], int]) -> None:
        """Copy the gauges into this process's file every ``SAMPLE_SECONDS``, until
        cancelled."""
        try:
            while True:
                self.connections.set(open_connections())
                self.writes_waiting.set(self.pending_writes)
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                self.connections.set(0)
                self.writes_waiting.set(0)
