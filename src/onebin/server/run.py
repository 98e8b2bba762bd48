"""``onebin serve``: settle the data directory, the descriptors and the ports, then serve.

Everything that can fail for a reason an operator must fix (a busy port, a
damaged or foreign database, an unwritable directory) fails here, before a worker
forks, as one ``OnebinError`` the CLI prints in one line.
"""

from __future__ import annotations

import logging
import signal

from onebin.app import App
from onebin.compose import app_jobs, app_routes, make_context, open_database, prepare_semantic
from onebin.config import Settings
from onebin.console.host import Host
from onebin.errors import OnebinError
from onebin.limiter import SharedFailureLimiter
from onebin.metrics.directory import forget_worker, metrics_directory
from onebin.server.heartbeat import Heartbeats
from onebin.server.listen import bind_all, connection_cap, raise_open_files_limit
from onebin.server.supervisor import EXIT_CANNOT_START, Supervisor
from onebin.server.worker import Shared, limiter_for, run_worker
from onebin.store.lock import DataDirLock

logger = logging.getLogger("onebin")


def serve(settings: Settings, app: App) -> int:
    """Serve ``app`` until told to stop; the exit status. ``OnebinError`` on a bad start."""
    with (
        DataDirLock(settings.data_dir, exclusive=False) as lock,
        metrics_directory(settings.metrics, settings.data_dir),
    ):
        open_files = raise_open_files_limit()
        cap, lowered = connection_cap(settings.max_connections, open_files)
        if lowered:
            logger.warning("%s", lowered)
        sockets = bind_all(settings)
        # One host's workers share counts in memory; replicas share the database's.
        shared_limiter = None
        if settings.database_url is None:
            shared_limiter = SharedFailureLimiter(max_failures=settings.auth_failure_limit)
        # Migrate (and finish or check whatever needs the data directory alone) once,
        # here, before forking: workers then only open a ready database. The app is
        # composed once too, so routes onebin refuses stop the start, not each worker.
        db = open_database(settings, app, alone=lock.alone)
        try:
            context = make_context(settings, db, limiter_for(settings, db, shared_limiter), app=app)
            app_routes(context, app)
            app_jobs(context, app)
            prepare_semantic(context)
        finally:
            db.close()
        lock.share()
        shared = Shared(
            sockets=sockets,
            max_connections=cap,
            limiter=shared_limiter,
            heartbeats=Heartbeats(settings.workers),
            host=Host.starting(settings.workers),
        )
        logger.info("up to %d connections per process (open-files limit %d)", cap, open_files)
        if settings.workers == 1:
            run_worker(settings, app, shared, stop_signals=(signal.SIGTERM, signal.SIGINT))
            return 0
        logger.info("onebin starting %d worker processes", settings.workers)
        supervisor = Supervisor(
            settings.workers,
            lambda number: _worker(settings, app, shared, number),
            shared.heartbeats,
            plain=[sockets.http],
            secure=[sockets.https] if sockets.https is not None else [],
            worker_timeout=settings.worker_timeout,
            graceful_timeout=settings.graceful_timeout,
            exited=forget_worker if settings.metrics else None,
        )
        return supervisor.run()


def _worker(settings: Settings, app: App, shared: Shared, number: int) -> int:
    try:
        # Only SIGTERM: the supervisor turns Ctrl-C into one SIGTERM per worker.
        run_worker(settings, app, shared, stop_signals=(signal.SIGTERM,), number=number)
    except OnebinError as error:
        logger.error("worker %d: %s", number, error)
        return EXIT_CANNOT_START
    return 0
