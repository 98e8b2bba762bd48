"""Compose an application into one ASGI callable: API, health check, embedded assets.

An application tells onebin what it has through an ``AppSpec``: its migrations, its
API routes and the package holding its built frontend. onebin owns the rest: the
database, tokens, error shapes and the dispatch between the three parts. The
dispatch is a plain path test, not a router, because it runs on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from onebin.config import Settings
from onebin.http import ApiError, JsonResponse, error_response
from onebin.store.migrations import Migration
from onebin.store.sqlite import SQLiteDatabase
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.store.tokens import TokenStore
from onebin.types import ASGIApp, Receive, Scope, Send


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


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Never a traceback in the response; uvicorn's log has it for the operator.
    return error_response(500, "internal_error", "the server failed to handle this request")


def build_api(routes: list[BaseRoute], cors_origins: Sequence[str] = ()) -> Starlette:
    """The API as one Starlette app; CORS only for origins the operator listed."""
    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type", "if-match", "if-none-match"],
                expose_headers=["etag", "location"],
                max_age=600,
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
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
