"""Compose an application into one ASGI callable: API, health check, embedded assets.

An application tells onebin what it has through an ``AppSpec``: its migrations, its
API routes and the package holding its built frontend. onebin owns the rest: the
database, tokens, error shapes and the dispatch between the three parts. The
dispatch is a plain path test, not a router, because it runs on every request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Router

from onebin.config import Settings
from onebin.http import JsonResponse, error_response
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.store.tokens import TokenStore
from onebin.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("onebin")


@dataclass(frozen=True)
class AppContext:
    """What onebin hands an application when building its routes."""

    settings: Settings
    db: SQLiteDatabase
    tokens: TokenStore


@dataclass(frozen=True)
class AppSpec:
    """An application onebin can serve and pack.

    ``assets_package`` names the package whose files are the built frontend
    (read through importlib.resources, so it works from a zip or a frozen binary);
    None serves no frontend.
    """

    name: str
    migrations: Sequence[Migration]
    api_routes: Callable[[AppContext], list[BaseRoute]]
    assets_package: str | None = None


def open_database(settings: Settings, spec: AppSpec) -> SQLiteDatabase:
    """The data directory's database with onebin's and the app's migrations applied."""
    db = SQLiteDatabase(
        settings.database_path,
        [*TOKEN_MIGRATIONS, *spec.migrations],
        synchronous=settings.sqlite_synchronous,
    )
    db.open()
    return db


class JsonApi:
    """Starlette's router with every failure answered as a JSON error.

    In place of the ``Starlette`` application class, whose middleware stack adds
    four wrapper layers to every request: routing is Starlette's, errors are one
    ``try`` here. Setting ``scope["app"]`` makes the router raise ``HTTPException``
    for 404/405 instead of answering in plain text.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.router = Router(routes=list(routes))

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
        except Exception:
            # The traceback goes to the operator's log, never into the response.
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            with contextlib.suppress(RuntimeError):  # the response had already started
                await error_response(
                    500, "internal_error", "the server failed to handle this request"
                )(scope, receive, send)


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


def build_app(context: AppContext, spec: AppSpec, assets: ASGIApp | None = None) -> ASGIApp:
    api = build_api(spec.api_routes(context), context.settings.cors_origins)
    db = context.db

    async def health(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await db.ping()
        except Exception:  # any failure means "not ready"; the body says so
            response = error_response(503, "unhealthy", "database is not reachable")
        else:
            response = JsonResponse({"status": "ok"})
        await response(scope, receive, send)

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(404, "not_found", "no such path")(scope, receive, send)

    fallback = assets or not_found

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets are not used
        path: str = scope["path"]
        if path.startswith("/api/") or path == "/api":
            await api(scope, receive, send)
        elif path == "/healthz":
            await health(scope, receive, send)
        else:
            await fallback(scope, receive, send)

    return app
