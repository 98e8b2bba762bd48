"""Compose an application into one ASGI callable: its routes, its static files, health.

The dispatch is a plain path test, not a router, because it runs on every request:
onebin's own paths first, then the paths the app's routes claim, then the static
files. Which paths a route claims is decided once, at start (``claims``).

Every answer is JSON, whatever fails: a database fault is its own 5xx (one log line
per kind, repeats counted), a bug is a 500 without details, and a request that a
shutdown cuts off gets a 503 instead of the plain-text 500 uvicorn would send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount, Route, Router

from onebin.app import App, Context
from onebin.assets import assets_app
from onebin.auth import Authenticator
from onebin.config import Settings
from onebin.console import console_app, in_console
from onebin.console.host import Host
from onebin.errors import AppError, StoreFault
from onebin.events import CHANNEL as EVENTS_CHANNEL
from onebin.events import Events
from onebin.events.tables import MIGRATIONS as EVENT_MIGRATIONS
from onebin.headers import secured
from onebin.health import Readiness
from onebin.http import JsonResponse, error_response, fault_response
from onebin.jobs.library import LIBRARY_JOBS
from onebin.jobs.queue import CHANNEL as JOBS_CHANNEL
from onebin.jobs.queue import JobQueue
from onebin.jobs.runner import Handler, JobRunner, merged_handlers
from onebin.jobs.schedule import Periodic, check_kind
from onebin.jobs.tables import MIGRATIONS as JOB_MIGRATIONS
from onebin.limiter import FailureLimiter
from onebin.logs import RepeatLimiter
from onebin.semantic.tables import MIGRATIONS as VECTOR_MIGRATIONS
from onebin.store.connection import check_owner
from onebin.store.database import Engine
from onebin.store.integrity import check_at_start
from onebin.store.limiter import MIGRATIONS as LIMITER_MIGRATIONS
from onebin.store.migrations import Migration
from onebin.store.notices import Notices, notices_for
from onebin.store.restore import finish_interrupted_restore
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import ADMIN_MIGRATIONS, TokenStore
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.tls.tables import MIGRATIONS as TLS_MIGRATIONS
from onebin.types import ASGIApp, Message, Receive, Scope, Send
from onebin.webhooks import fan_out
from onebin.webhooks.tables import MIGRATIONS as WEBHOOK_MIGRATIONS

logger = logging.getLogger("onebin")
# One line per kind of failure and minute, however many requests hit it.
failures = RepeatLimiter(logger, window=10.0)

# Paths onebin answers itself, whatever the application.
RESERVED_PATHS = ("/healthz", "/readyz")
RESERVED_PREFIXES = ("/.well-known/acme-challenge/", "/_onebin/")
# What the processes sharing a database wake each other for.
CHANNELS = (EVENTS_CHANNEL, JOBS_CHANNEL)


def app_migrations(app: App) -> list[Migration]:
    """onebin's own migrations (tokens, the failed-token limiter, certificates, jobs,
    events, webhooks, admin tokens, vectors), then the app's: what its database is made of."""
    return [
        *TOKEN_MIGRATIONS,
        *LIMITER_MIGRATIONS,
        *TLS_MIGRATIONS,
        *JOB_MIGRATIONS,
        *EVENT_MIGRATIONS,
        *WEBHOOK_MIGRATIONS,
        *ADMIN_MIGRATIONS,
        *VECTOR_MIGRATIONS,
        *app.migrations,
    ]


def open_database(settings: Settings, app: App, *, alone: bool = False) -> Engine:
    """The run's database with onebin's and the app's migrations applied: PostgreSQL
    when ``--database-url`` names one, else the SQLite file in the data directory.

    ``alone`` (the caller holds the data directory with no other onebin process in
    it) is when an interrupted SQLite restore is finished and a file that was not
    closed cleanly is checked before anything uses it.
    """
    migrations = app_migrations(app)
    db: Engine
    if settings.database_url is not None:
        # Imported here: psycopg is only loaded by a process that uses PostgreSQL.
        from onebin.store.postgres import PostgresDatabase

        db = PostgresDatabase(
            settings.database_url,
            migrations,
            query_timeout=settings.query_timeout,
            write_timeout=settings.write_timeout,
        )
    else:
        db = _sqlite_database(settings, migrations, alone=alone)
    db.open()
    return db


def _sqlite_database(
    settings: Settings, migrations: list[Migration], *, alone: bool
) -> SQLiteDatabase:
    path = settings.database_path
    if alone:
        done = finish_interrupted_restore(path)
        if done:
            logger.warning("%s", done)
        check_owner(path)  # a file that is not onebin's is refused before it is checked
        if check_at_start(path):
            logger.info("%s was not closed cleanly; quick_check found no damage", path)
    return SQLiteDatabase(
        path,
        migrations,
        synchronous=settings.sqlite_synchronous,
        query_timeout=settings.query_timeout,
        write_timeout=settings.write_timeout,
    )


def _describe(scope: Scope) -> str:
    return f"{scope.get('method', '?')} {scope.get('path', '?')}"


class JsonApi:
    """Starlette's router with every failure answered as a JSON error.

    In place of the ``Starlette`` application class, whose middleware stack adds
    four wrapper layers to every request: routing is Starlette's, errors are one
    ``try`` here. Setting ``scope["app"]`` makes the router raise ``HTTPException``
    for 404/405 instead of answering in plain text. ``redirect_slashes`` is off: its
    redirect would copy the request's Host header into ``Location``.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.router = Router(routes=list(routes), redirect_slashes=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        try:
            await self.router(scope, receive, send)
        except HTTPException as exc:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            headers = dict(exc.headers or {})
            await error_response(exc.status_code, code, str(exc.detail), headers)(
                scope, receive, send
            )
        except StoreFault as fault:
            response = fault_response(fault)
            failures.log(
                logging.ERROR,
                f"{type(fault).__name__} {scope['path']}",
                f"{_describe(scope)} answered {response.status_code}: {fault}",
            )
            await response(scope, receive, send)


def build_api(routes: Sequence[BaseRoute], cors_origins: Sequence[str] = ()) -> ASGIApp:
    """The API as one ASGI app; CORS only for origins the operator listed."""
    api = JsonApi(routes)
    if not cors_origins:
        return api
    return CORSMiddleware(
        api,
        allow_origins=list(cors_origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["authorization", "content-type", "if-match", "if-none-match"],
        expose_headers=["etag", "location"],
        max_age=600,
    )


def answer_json(app: ASGIApp) -> ASGIApp:
    """``app`` with every escape turned into a JSON answer, if none was started yet.

    A request task is cancelled only when a shutdown's grace period ends: it gets a
    503 and the task ends quietly (re-raising would make uvicorn log a traceback and
    try its own plain-text 500).
    """

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await app(scope, receive, tracked)
        except asyncio.CancelledError:
            if not started:
                await error_response(
                    503,
                    "shutting_down",
                    "the server stopped before this request finished; try again",
                    {"retry-after": "1", "connection": "close"},
                )(scope, receive, send)
        except Exception:
            # The traceback goes to the operator's log (once per kind), never to the client.
            failures.log(
                logging.ERROR,
                f"unhandled {_describe(scope)}",
                f"unhandled error in {_describe(scope)}",
                exc_info=True,
            )
            if not started:
                with contextlib.suppress(RuntimeError, OSError):  # the client went away
                    await error_response(
                        500, "internal_error", "the server failed to handle this request"
                    )(scope, receive, send)

    return guarded


def health_app(readiness: Readiness) -> Callable[[str], ASGIApp | None]:
    """The handlers of ``/healthz`` (alive) and ``/readyz`` (ready), by path."""

    async def alive(scope: Scope, receive: Receive, send: Send) -> None:
        await JsonResponse({"status": "ok"})(scope, receive, send)

    async def ready(scope: Scope, receive: Receive, send: Send) -> None:
        report = await readiness.report()
        if report["status"] == "ready":
            await JsonResponse(report)(scope, receive, send)
            return
        problems = "; ".join(f"{k}: {v}" for k, v in report["checks"].items() if v != "ok")
        failures.log(logging.WARNING, "not ready", f"not ready: {problems}")
        body = {**report, "error": {"code": "not_ready", "message": problems}}
        await JsonResponse(body, 503, {"retry-after": "1"})(scope, receive, send)

    return {"/healthz": alive, "/readyz": ready}.get


@dataclass(frozen=True)
class Claims:
    """The paths an application's routes answer: exact paths and path prefixes."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self.exact or path.startswith(self.prefixes))


def claims(routes: Iterable[BaseRoute]) -> Claims:
    """What ``routes`` claim: a ``Mount`` everything below it, a ``Route`` its path,
    or everything below the literal part before its first ``{parameter}``."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for route in routes:
        if isinstance(route, Mount):
            exact.add(route.path or "/")
            prefixes.append(route.path + "/")
        elif isinstance(route, Route):
            literal, brace, _ = route.path.partition("{")
            if brace:
                prefixes.append(literal.rpartition("/")[0] + "/")
            else:
                exact.add(route.path)
        else:
            raise AppError(
                f"route {route!r} is a {type(route).__name__}; onebin serves Route and Mount"
            )
    return Claims(frozenset(exact), tuple(dict.fromkeys(prefixes)))


def without_slash_redirects(routes: Iterable[BaseRoute]) -> None:
    """Turn off the trailing-slash redirect of every router mounted in ``routes``.

    Starlette's routers answer ``/x/`` with a redirect to ``/x`` built from the
    request's Host header, which a client controls; a ``Mount`` makes such a router
    of its own, so an app's mounts are switched off here as the top router is.
    """
    for route in routes:
        if isinstance(route, Mount) and isinstance(route.app, Router):
            route.app.redirect_slashes = False
            without_slash_redirects(route.app.routes)


def reserved_claims(claimed: Claims) -> list[str]:
    """The onebin paths among ``claimed``, to refuse an app that would shadow them."""
    taken = [path for path in RESERVED_PATHS if path in claimed]
    for reserved in RESERVED_PREFIXES:
        # The bare path too: the console answers ``/_onebin`` as well as below it.
        if (
            reserved in claimed
            or reserved.rstrip("/") in claimed.exact
            or any(prefix.startswith(reserved) for prefix in (*claimed.exact, *claimed.prefixes))
        ):
            taken.append(reserved)
    return taken


def make_context(
    settings: Settings,
    db: Engine,
    limiter: FailureLimiter,
    notices: Notices | None = None,
    *,
    app: App | None = None,
) -> Context:
    """The ``Context`` of one serving process, with ``app``'s semantic collections.

    ``notices`` are the process's wake-ups, which the server starts; without them
    (tests, the command line) the engine's are made here and never started, so
    waiters poll.
    """
    if notices is None:
        notices = notices_for(db, CHANNELS)
    events, jobs = Events(db, notices), JobQueue(db, notices)
    fan_out(events.log, jobs)  # every event queues its webhook deliveries as it commits
    semantic = None
    if app is not None and app.semantic:
        # Imported here: the vector search module loads a native extension.
        from onebin.semantic.search import searches

        semantic = searches(tuple(app.semantic), db, jobs)
    auth = Authenticator(TokenStore(db), limiter)
    return Context(settings, db, auth, events, jobs=jobs, semantic=semantic)


def prepare_semantic(context: Context) -> None:
    """At start, before the workers: re-embeds the rows of collections whose vectors
    another model made, and queues the embedding of rows left marked (a crash, a
    migration that marked existing rows)."""
    for search in context.semantic.values():
        search.indexer.prepare_sync()


def app_jobs(context: Context, app: App) -> tuple[dict[str, Handler], list[Periodic]]:
    """Every job handler and periodic job of a process: onebin's, then the app's.

    ``AppError`` for an app that uses a kind of onebin's, a handler that is not a
    function, or a periodic job without a handler.
    """
    made = app.jobs(context) if app.jobs is not None else {}
    if not isinstance(made, Mapping):
        raise AppError(
            f"app {app.name!r}: jobs() must return a dict of kind to handler, "
            f"not {type(made).__name__}"
        )
    for kind, handler in made.items():
        try:
            check_kind(kind)
        except AppError as exc:
            raise AppError(f"app {app.name!r}: {exc}") from None
        app.check_kind(kind)
        if not callable(handler):
            raise AppError(f"app {app.name!r}: the handler of job kind {kind!r} is not a function")
    for periodic in app.periodic:
        if periodic.kind not in made:
            raise AppError(
                f"app {app.name!r}: periodic job {periodic.kind!r} has no handler in jobs()"
            )
    library = [component(context) for component in LIBRARY_JOBS]
    handlers = merged_handlers(*(part.handlers for part in library), made)
    periodic = [job for part in library for job in part.periodic] + list(app.periodic)
    return handlers, periodic


def job_runner(context: Context, app: App) -> JobRunner | None:
    """The job runner of one serving process; None with ``--job-workers 0``."""
    settings = context.settings
    if settings.job_workers == 0:
        return None
    handlers, periodic = app_jobs(context, app)
    return JobRunner(
        context.jobs,
        handlers,
        periodic,
        concurrency=settings.job_workers,
        lease=settings.job_lease,
        retry_base=settings.job_retry_delay,
        graceful_timeout=settings.graceful_timeout,
    )


def app_routes(context: Context, app: App) -> list[BaseRoute]:
    """The app's routes and what they claim; ``AppError`` if onebin refuses them."""
    made = app.routes(context) if app.routes is not None else []
    if not isinstance(made, Iterable) or isinstance(made, str | bytes):
        raise AppError(
            f"app {app.name!r}: routes() must return a list of routes, not {type(made).__name__}"
        )
    routes = list(made)
    taken = reserved_claims(claims(routes))
    if taken:
        raise AppError(
            f"app {app.name!r}: its routes claim {', '.join(taken)}, which onebin answers itself"
        )
    return routes


def build_app(context: Context, app: App, host: Host | None = None) -> ASGIApp:
    """The whole application as one ASGI callable; ``AppError`` if its routes are refused.

    ``host`` is what the admin console shows of the serving processes (``onebin
    serve`` makes it before forking); without it, this process alone.
    """
    routes = app_routes(context, app)
    claimed = claims(routes)
    without_slash_redirects(routes)
    api = secured(build_api(routes, context.settings.cors_origins), app.headers)
    settings = context.settings
    readiness = Readiness(context.db, settings.data_dir, settings.min_free_disk, jobs=context.jobs)
    health = health_app(readiness)
    console = console_app(context, app, readiness, host or Host.starting(settings.workers), JsonApi)
    static = assets_app(app.static, app.headers)
    if settings.metrics:  # imported only then: prometheus_client costs start-up time
        from onebin.metrics.endpoint import with_metrics

        health = with_metrics(health, context, claimed)

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(404, "not_found", "no such path")(scope, receive, send)

    fallback = static or not_found

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is not used; WebSocket upgrades are refused by the protocol
        path: str = scope["path"]
        probe = health(path)
        if probe is not None:
            if scope["method"] in ("GET", "HEAD"):
                await probe(scope, receive, send)
            else:
                await error_response(
                    405, "method_not_allowed", "use GET or HEAD", {"allow": "GET, HEAD"}
                )(scope, receive, send)
        elif in_console(path):  # before the app's routes: they may not shadow it
            await console(scope, receive, send)
        elif path in claimed:
            await api(scope, receive, send)
        else:
            await fallback(scope, receive, send)

    return answer_json(dispatch)
