"""Run the application: open the store, build the ASGI app, serve until a signal.

Signals are ours, not uvicorn's: uvicorn re-raises a caught SIGTERM after its
shutdown, which would kill the process before the database is closed. Here SIGTERM
or SIGINT asks every listener to stop accepting; each lets in-flight requests finish
for ``graceful_timeout`` seconds; then the database is closed, which checkpoints the
WAL, and ``serve`` returns so the process exits 0.
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
from onebin.protocol import Limits, guarded_protocol
from onebin.store.lock import DataDirLock
from onebin.store.tokens import TokenStore
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
    """A uvicorn server that leaves signal handling to ``run_listeners``.

    ``sock``, when given, is a socket bound beforehand; otherwise uvicorn binds.
    """

    def __init__(self, config: uvicorn.Config, sock: socket.socket | None = None) -> None:
        super().__init__(config)
        self.sock = sock

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_listeners(listeners: Sequence[Listener]) -> None:
    """Serve on every listener until SIGTERM/SIGINT, then stop them all gracefully."""
    loop = asyncio.get_running_loop()

    def stop_all() -> None:
        for listener in listeners:
            # A second signal while already stopping skips the grace period.
            listener.force_exit = listener.should_exit
            listener.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_all)
    try:
        await asyncio.gather(
            *(listener.serve([listener.sock] if listener.sock else None) for listener in listeners)
        )
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def serve(settings: Settings, spec: AppSpec) -> None:
    """Serve ``spec`` until told to stop; raises ``OnebinError`` on a bad start."""
    with DataDirLock(settings.data_dir, exclusive=False):
        db = open_database(settings, spec)
        try:
            context = AppContext(settings=settings, db=db, tokens=TokenStore(db))
            app = build_app(context, spec, assets_app(spec.assets_package))
            manager = None
            if settings.https_enabled:
                listeners, manager = _https_listeners(app, settings)
                where = f"https://{settings.host}:{settings.https_port}"
            else:
                listeners = [Listener(uvicorn_config(app, settings, port=settings.port))]
                where = f"http://{settings.host}:{settings.port}"
            logger.info(
                "onebin serving %s on %s (data in %s)",
                spec.name,
                where,
                settings.data_dir.resolve(),
            )
            if manager is not None:
                manager.start()  # after binding: the CA may connect to the HTTP port at once
            try:
                with asyncio.Runner(loop_factory=listeners[0].config.get_loop_factory()) as runner:
                    runner.run(run_listeners(listeners))
            finally:
                if manager is not None:
                    manager.stop()
        finally:
            db.close()


def _https_listeners(
    app: ASGIApp, settings: Settings
) -> tuple[list[Listener], CertificateManager | None]:
    """The whole app with HSTS on the HTTPS port; challenges and redirects on the HTTP port."""
    # Imported here: the ACME stack (acme, josepy, requests) adds ~0.1 s to every
    # start, and plain-HTTP mode never needs it.
    from onebin.tls.serving import bind, https_setup

    tls = https_setup(app, settings)
    https = uvicorn_config(
        tls.https_app, settings, port=settings.https_port, ssl_context=tls.context
    )
    http = uvicorn_config(tls.http_app, settings, port=settings.http_port)
    listeners = [
        Listener(https, bind(settings.host, settings.https_port)),
        Listener(http, bind(settings.host, settings.http_port)),
    ]
    return listeners, tls.manager
