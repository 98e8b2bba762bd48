"""Run the application: bind, open the store, build the ASGI app, serve until a signal.

Signals are ours, not uvicorn's: uvicorn re-raises a caught SIGTERM after its
shutdown, which would kill the process before the database is closed. Here SIGTERM
or SIGINT asks every listener to stop accepting; each lets in-flight requests finish
for ``graceful_timeout`` seconds; then the database is closed, which checkpoints the
WAL, and ``serve`` returns so the process exits 0. With ``--workers N`` each worker
does the same, under ``onebin.supervisor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import uvicorn

from onebin.app import AppContext, AppSpec, build_app, open_database
from onebin.assets import assets_app
from onebin.config import Settings
from onebin.errors import OnebinError
from onebin.listen import Sockets, bind_all
from onebin.protocol import Limits, guarded_protocol
from onebin.store.lock import DataDirLock
from onebin.store.tokens import TokenStore
from onebin.supervisor import EXIT_CANNOT_START, Supervisor
from onebin.types import ASGIApp

if TYPE_CHECKING:
    from onebin.tls.manager import CertificateManager

logger = logging.getLogger("onebin")


def uvicorn_config(
    app: ASGIApp, settings: Settings, *, port: int, ssl_context: ssl.SSLContext | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        lifespan="off",
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.graceful_timeout,
        timeout_keep_alive=5,
        http=guarded_protocol(
            Limits(
                header_timeout=settings.header_timeout,
                max_header_bytes=settings.max_header_bytes,
                max_connections=settings.max_connections,
            )
        ),
        ssl_context_factory=(lambda config, default: ssl_context) if ssl_context else None,
    )


class Listener(uvicorn.Server):
    """A uvicorn server on a socket bound beforehand, leaving signals to ``run_listeners``."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        super().__init__(config)
        self.sock = sock

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_listeners(
    listeners: Sequence[Listener], stop_signals: Sequence[signal.Signals]
) -> None:
    """Serve on every listener until a stop signal, then stop them all gracefully."""
    loop = asyncio.get_running_loop()

    def stop_all() -> None:
        for listener in listeners:
            # A second signal while already stopping skips the grace period.
            listener.force_exit = listener.should_exit
            listener.should_exit = True

    for sig in stop_signals:
        loop.add_signal_handler(sig, stop_all)
    try:
        await asyncio.gather(*(listener.serve([listener.sock]) for listener in listeners))
    finally:
        for sig in stop_signals:
            loop.remove_signal_handler(sig)


def serve(settings: Settings, spec: AppSpec) -> int:
    """Serve ``spec`` until told to stop; the exit status. ``OnebinError`` on a bad start."""
    with DataDirLock(settings.data_dir, exclusive=False):
        sockets = bind_all(settings)
        if settings.workers == 1:
            run_worker(settings, spec, sockets, stop_signals=(signal.SIGTERM, signal.SIGINT))
            return 0
        # Migrate once, here, before forking: workers then only open a ready database
        # instead of racing each other to create it and switch it to WAL.
        open_database(settings, spec).close()
        logger.info("onebin starting %d worker processes", settings.workers)
        return Supervisor(settings.workers, lambda n: _worker(settings, spec, sockets, n)).run()


def _worker(settings: Settings, spec: AppSpec, sockets: Sockets, number: int) -> int:
    try:
        # Only SIGTERM: the supervisor turns Ctrl-C into one SIGTERM per worker.
        run_worker(settings, spec, sockets, stop_signals=(signal.SIGTERM,))
    except OnebinError as error:
        logger.error("worker %d: %s", number, error)
        return EXIT_CANNOT_START
    return 0


def run_worker(
    settings: Settings,
    spec: AppSpec,
    sockets: Sockets,
    *,
    stop_signals: Sequence[signal.Signals],
) -> None:
    """One serving process: its own database connections, app, listeners and TLS keeper."""
    db = open_database(settings, spec)
    try:
        context = AppContext(settings=settings, db=db, tokens=TokenStore(db))
        app = build_app(context, spec, assets_app(spec.assets_package))
        manager = None
        if sockets.https is not None:
            listeners, manager = _https_listeners(app, settings, sockets.https, sockets.http)
            where = f"https://{settings.host}:{settings.https_port}"
        else:
            config = uvicorn_config(app, settings, port=settings.port)
            listeners = [Listener(config, sockets.http)]
            where = f"http://{settings.host}:{settings.port}"
        logger.info(
            "onebin serving %s on %s (data in %s)", spec.name, where, settings.data_dir.resolve()
        )
        if manager is not None:
            manager.start()
        try:
            with asyncio.Runner(loop_factory=listeners[0].config.get_loop_factory()) as runner:
                runner.run(run_listeners(listeners, stop_signals))
        finally:
            if manager is not None:
                manager.stop()
    finally:
        db.close()


def _https_listeners(
    app: ASGIApp, settings: Settings, https_socket: socket.socket, http_socket: socket.socket
) -> tuple[list[Listener], CertificateManager | None]:
    """The whole app with HSTS on the HTTPS port; challenges and redirects on the HTTP port."""
    # Imported here: the ACME stack (acme, josepy, requests) adds ~0.1 s to every
    # start, and plain-HTTP mode never needs it.
    from onebin.tls.serving import https_setup

    tls = https_setup(app, settings)
    https = uvicorn_config(
        tls.https_app, settings, port=settings.https_port, ssl_context=tls.context
    )
    http = uvicorn_config(tls.http_app, settings, port=settings.http_port)
    return [Listener(https, https_socket), Listener(http, http_socket)], tls.manager
