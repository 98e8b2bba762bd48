"""Run the application: open the store, build the ASGI app, serve until a signal.

uvicorn owns the sockets and the signal handling: on SIGTERM or SIGINT it stops
accepting, lets in-flight requests finish for ``graceful_timeout`` seconds, and
returns; then the database is closed, which checkpoints the WAL, and the process
exits 0.
"""

from __future__ import annotations

import logging

import uvicorn

from onebin.app import AppContext, AppSpec, build_app, open_database
from onebin.config import Settings
from onebin.store.tokens import TokenStore
from onebin.types import ASGIApp

logger = logging.getLogger("onebin")


def uvicorn_config(app: ASGIApp, settings: Settings, *, port: int) -> uvicorn.Config:
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
    )


def serve(settings: Settings, spec: AppSpec) -> None:
    """Serve ``spec`` until told to stop; raises ``OnebinError`` on a bad start."""
    db = open_database(settings, spec)
    try:
        context = AppContext(settings=settings, db=db, tokens=TokenStore(db))
        app = build_app(context, spec)
        server = uvicorn.Server(uvicorn_config(app, settings, port=settings.port))
        logger.info(
            "onebin serving %s on http://%s:%d (data in %s)",
            spec.name,
            settings.host,
            settings.port,
            settings.data_dir.resolve(),
        )
        server.run()
    finally:
        db.close()
