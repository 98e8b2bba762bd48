"""One serving process: its database connections, app, listeners and background keepers.

Signals are ours, not uvicorn's: uvicorn re-raises a caught SIGTERM after its
shutdown, which would kill the process before the database is closed. Here SIGTERM
(or SIGINT) asks every listener to stop accepting; each lets in-flight requests
finish for ``graceful_timeout`` seconds (those still running then get a JSON 503);
then the database is closed, which checkpoints the WAL, and the process exits 0.
Repeating SIGTERM changes nothing: systemd signals every process of the unit, so a
worker hears it from systemd and from its supervisor. Only a second Ctrl-C, in a
terminal, skips the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn

from onebin.app import App
from onebin.compose import CHANNELS, build_app, job_runner, make_context, open_database
from onebin.config import Settings
from onebin.console.host import Host
from onebin.limiter import FailureLimiter, SharedFailureLimiter
from onebin.logs import RepeatLimiter, quiet_repeats
from onebin.server.accept import Acceptor
from onebin.server.access import Observer, observed
from onebin.server.clients import TrustedProxies
from onebin.server.connections import ConnectionLimits, ConnectionRegistry
from onebin.server.heartbeat import INTERVAL, Heartbeats
from onebin.server.listen import Sockets, url
from onebin.server.protocol import Limits, Listening, guarded_protocol
from onebin.store.database import Engine
from onebin.store.notices import notices_for
from onebin.store.scheduled import BackupScheduler
from onebin.types import ASGIApp

if TYPE_CHECKING:
    from onebin.tls.manager import CertificateManager

logger = logging.getLogger("onebin")
loop_errors = RepeatLimiter(logger, window=60.0)
# How long closing waits for a writer stuck behind a frozen process's lock.
WRITER_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Shared:
    """What the serving processes share, built once before any fork."""

    sockets: Sockets
    max_connections: int
    # None with --database-url: each process then counts in the database (``limiter_for``).
    limiter: SharedFailureLimiter | None
    heartbeats: Heartbeats
    # What the admin console shows of this host's processes: its recent-requests ring.
    host: Host


def limiter_for(
    settings: Settings, db: Engine, shared: SharedFailureLimiter | None
) -> FailureLimiter:
    """The failed-token limiter of one process: the one shared in memory by the workers
    of this host, or, for replicas sharing a database, that database."""
    if shared is not None:
        return shared
    from onebin.store.limiter import DatabaseFailureLimiter

    return DatabaseFailureLimiter(db, max_failures=settings.auth_failure_limit)


def uvicorn_config(
    app: ASGIApp, settings: Settings, listening: Listening, observers: Sequence[Observer]
) -> uvicorn.Config:
    """One listener's uvicorn settings, its app wrapped in onebin's access log."""
    return uvicorn.Config(
        observed(app, access_log=settings.access_log, observers=observers),
        host=settings.listen_host,
        lifespan="off",
        # Logging is onebin's (``onebin.logs.configure``): uvicorn's records go to its
        # handler, and onebin's access log replaces uvicorn's.
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        # onebin's own protocol resolves forwarded headers, from trusted proxies only.
        proxy_headers=False,
        ws="none",
        timeout_graceful_shutdown=settings.graceful_timeout,
        timeout_keep_alive=5,
        http=guarded_protocol(listening),
    )


class Listener(uvicorn.Server):
    """A uvicorn server on a socket bound beforehand, accepting through onebin's
    ``Acceptor`` and leaving signals to ``run_listeners``."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, listening: Listening) -> None:
        super().__init__(config)
        self.sock = sock
        self.listening = listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup with the loop's server replaced by the ``Acceptor``."""
        config = self.config
        loop = asyncio.get_running_loop()

        def make_protocol(client_key: str | None) -> asyncio.Protocol:
            protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )
            protocol.client_key = client_key
            return protocol

        acceptor = Acceptor(
            self.sock,
            make_protocol,
            self.listening.registry,
            tls=self.listening.tls,
            handshake_timeout=self.listening.limits.header_timeout,
        )
        self.servers = [acceptor]  # type: ignore[list-item]
        self.started = True


def _loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One line per kind of loop error and minute (``accept`` errors are the
    acceptor's to report)."""
    error = context.get("exception")
    message = context.get("message", "event loop error")
    loop_errors.log(logging.ERROR, message, f"{message}: {error!r}" if error else message)


class Service(Protocol):
    """Work a process does beside answering requests (the job runner, the event hub).

    ``start`` runs once the loop runs; ``stop`` at the first stop signal, while
    in-flight requests finish, so that what it holds open (event streams, running
    jobs) ends within the grace period instead of holding the shutdown up.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_listeners(
    listeners: Sequence[Listener],
    stop_signals: Sequence[signal.Signals],
    registry: ConnectionRegistry,
    beat: tuple[Heartbeats, int] | None,
    services: Sequence[Service] = (),
) -> None:
    """Serve on every listener until a stop signal, then stop them all gracefully."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_error)
    stopping: list[asyncio.Task[None]] = []

    def stop_all(sig: signal.Signals) -> None:
        if not stopping:
            stopping.extend(loop.create_task(service.stop()) for service in services)
        for listener in listeners:
            # A second Ctrl-C while already stopping skips the grace period.
            listener.force_exit = listener.should_exit and sig == signal.SIGINT
            listener.should_exit = True

    async def heartbeat(heartbeats: Heartbeats, number: int) -> None:
        while True:
            heartbeats.beat(number, time.monotonic())
            await asyncio.sleep(INTERVAL)

    for sig in stop_signals:
        loop.add_signal_handler(sig, stop_all, sig)
    keepers = [loop.create_task(registry.sweep_forever())]
    if beat is not None:
        keepers.append(loop.create_task(heartbeat(*beat)))
    for service in services:
        await service.start()
    try:
        await asyncio.gather(*(listener.serve([listener.sock]) for listener in listeners))
    finally:
        if not stopping:  # the listeners ended without a signal: stop the services too
            stopping.extend(loop.create_task(service.stop()) for service in services)
        await asyncio.gather(*stopping, return_exceptions=True)
        for keeper in keepers:
            keeper.cancel()
        for sig in stop_signals:
            loop.remove_signal_handler(sig)


def run_worker(
    settings: Settings,
    app: App,
    shared: Shared,
    *,
    stop_signals: Sequence[signal.Signals],
    number: int | None = None,
) -> None:
    """Serve until a stop signal; ``number`` is set for a worker under a supervisor."""
    # uvicorn warns once per malformed request; a client can send thousands a second.
    quiet_repeats("uvicorn.error")
    db = open_database(settings, app)
    try:
        limiter = limiter_for(settings, db, shared.limiter)
        notices = notices_for(db, CHANNELS)
        context = make_context(settings, db, limiter, notices, app=app)
        asgi = build_app(context, app, shared.host)
        # Told of every finished request, on every listener (``onebin.server.access``).
        observers: list[Observer] = [shared.host.observer(number)]
        proxies = TrustedProxies(settings.trusted_proxies)
        registry = ConnectionRegistry(
            ConnectionLimits(shared.max_connections, settings.max_client_connections),
            exempt=proxies.trusts,
        )
        limits = Limits(
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            max_header_bytes=settings.max_header_bytes,
        )
        sockets = shared.sockets
        manager = None
        if sockets.https is not None:
            listeners, manager = _https_listeners(
                asgi, settings, db, sockets, limits, registry, proxies, observers
            )
            where = url("https", sockets.https)
        else:
            listening = Listening(limits, registry, proxies)
            config = uvicorn_config(asgi, settings, listening, observers)
            listeners = [Listener(config, sockets.http, listening)]
            where = url("http", sockets.http)
        logger.info(
            "onebin serving %s on %s (data in %s)", app.name, where, settings.data_dir.resolve()
        )
        backups = None
        if settings.backup_every is not None:
            backups = BackupScheduler(
                settings.database_path,
                settings.backup_dir,
                timedelta(seconds=settings.backup_every),
                settings.backup_keep,
            )
            backups.start()
        sampler = None
        if settings.metrics:  # imported only then: prometheus_client costs start-up time
            from onebin.metrics.serving import worker_metrics

            sampler = worker_metrics(db, registry, number, observers)
        if manager is not None:
            manager.start()
        beat = (shared.heartbeats, number) if number is not None else None
        # Notices first: the others wait on them.
        services: list[Service] = [notices, context.events]
        if sampler is not None:
            services.append(sampler)
        jobs = job_runner(context, app)
        if jobs is not None:
            services.append(jobs)
        if context.semantic:
            from onebin.semantic.search import SemanticService

            services.append(SemanticService(context.semantic))
        try:
            with asyncio.Runner(loop_factory=listeners[0].config.get_loop_factory()) as runner:
                runner.run(run_listeners(listeners, stop_signals, registry, beat, services))
        finally:
            if manager is not None:
                manager.stop()
            if backups is not None:
                backups.stop()
    finally:
        db.close(WRITER_CLOSE_TIMEOUT)


def _https_listeners(
    app: ASGIApp,
    settings: Settings,
    db: Engine,
    sockets: Sockets,
    limits: Limits,
    registry: ConnectionRegistry,
    proxies: TrustedProxies,
    observers: Sequence[Observer],
) -> tuple[list[Listener], CertificateManager | None]:
    """The whole app with HSTS on the HTTPS port; challenges and redirects on the HTTP port."""
    # Imported here: the ACME stack (acme, josepy, requests) adds ~0.1 s to every
    # start, and plain-HTTP mode never needs it.
    from onebin.tls.serving import https_setup

    assert sockets.https is not None
    tls = https_setup(app, settings, db)
    context: ssl.SSLContext = tls.context
    secure = Listening(limits, registry, proxies, context)
    plain = Listening(limits, registry, proxies)
    https = uvicorn_config(tls.https_app, settings, secure, observers)
    http = uvicorn_config(tls.http_app, settings, plain, observers)
    return [
        Listener(https, sockets.https, secure),
        Listener(http, sockets.http, plain),
    ], tls.manager
