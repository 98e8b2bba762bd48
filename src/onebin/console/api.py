"""The console's JSON API, ``/_onebin/api/*``: thin handlers over onebin's own stores.

Every handler first asks for an admin token (``Context.require_admin``: 401 without
a valid token, 403 ``admin_required`` for a write token), then calls the same code
the command line does: ``TokenStore``, ``JobQueue`` (its retry rules), the backup
of ``onebin backup``, ``onebin tls status``'s report. Answers are JSON, errors
``{"error": {"code", "message"}}``, and nothing is cached (``no_store``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount

from onebin.app import Context
from onebin.console.backups import (
    BackupExists,
    backup_path,
    list_backups,
    take_backup,
)
from onebin.console.overview import Sources, backups_supported, overview
from onebin.console.recent import CAPACITY
from onebin.errors import NotFound, StoreError, StoreFault
from onebin.headers import completed
from onebin.http import ApiError, JsonResponse, read_json, resource
from onebin.jobs.cli import moment
from onebin.jobs.queue import STATES, JobRecord
from onebin.store.tokens import TokenRecord, TokenStore, check_name
from onebin.types import ASGIApp, Message, Receive, Scope, Send
from onebin.values import int_in, row_id
from onebin.webhooks.store import WebhookStore

PREFIX = "/_onebin/api"
MAX_JOBS = 500
_NO_STORE = (b"cache-control", b"no-store")


class NewToken(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    admin: bool = False


def token_json(record: TokenRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "admin": record.admin,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    }


def job_json(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "state": record.state,
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
        "last_error": record.last_error,
        "run_at": moment(record.run_at),
        "created_at": moment(record.created_at),
    }


def query_int(request: Request, name: str, default: int, parse: Callable[[str], int]) -> int:
    """A whole-number query parameter, or a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_query", f"{name}: {exc}") from None


def path_id(request: Request, name: str) -> int:
    """A row id from the path; a 404 for anything that cannot be one (no row has it)."""
    try:
        return row_id(request.path_params[name])
    except ValueError:
        raise ApiError(404, "not_found", f"no job {request.path_params[name]!r}") from None


def no_store(app: ASGIApp) -> ASGIApp:
    """``app`` whose every answer says ``Cache-Control: no-store`` (admin data never
    sits in a browser's or a proxy's cache) and ``nosniff`` (a backup's bytes are
    never taken for a page)."""

    async def uncached(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"cache-control"
                ]
                message = {**message, "headers": [*completed(headers, []), _NO_STORE]}
            await send(message)

        await app(scope, receive, sending)

    return uncached


class ConsoleApi:
    """The routes below ``/_onebin/api``, bound to one serving process."""

    def __init__(self, context: Context, sources: Sources) -> None:
        self.context = context
        self.sources = sources
        self.tokens = TokenStore(sources.db)
        self.webhooks = WebhookStore(sources.db)

    def routes(self) -> list[BaseRoute]:
        return [
            Mount(
                PREFIX,
                routes=[
                    resource("/overview", {"GET": self.overview}),
                    resource("/tokens", {"GET": self.list_tokens, "POST": self.create_token}),
                    resource("/tokens/{name:path}", {"DELETE": self.revoke_token}),
                    resource("/backups", {"GET": self.list_backups, "POST": self.run_backup}),
                    resource("/backups/{name}", {"GET": self.download_backup}),
                    resource("/jobs", {"GET": self.list_jobs}),
                    resource("/jobs/{job_id}/retry", {"POST": self.retry_job}),
                    resource("/webhooks", {"GET": self.list_webhooks}),
                    resource("/requests", {"GET": self.list_requests}),
                ],
            )
        ]

    async def overview(self, request: Request) -> Response:
        await self.context.require_admin(request)
        return JsonResponse(await overview(self.sources))

    async def list_tokens(self, request: Request) -> Response:
        await self.context.require_admin(request)
        records = await self.tokens.list_async()
        return JsonResponse({"tokens": [token_json(record) for record in records]})

    async def create_token(self, request: Request) -> Response:
        await self.context.require_admin(request)
        new = await read_json(request, NewToken, self.context.body_limits)
        try:
            name = check_name(new.name)
        except StoreError as exc:
            raise ApiError(422, "validation_error", str(exc)) from None
        try:
            secret, record = await self.tokens.create_async(name, admin=new.admin)
        except StoreFault:
            raise
        except StoreError:
            raise ApiError(
                409, "name_taken", f"an active token is named {name!r}: revoke it first"
            ) from None
        return JsonResponse({"name": record.name, "admin": record.admin, "token": secret}, 201)

    async def revoke_token(self, request: Request) -> Response:
        await self.context.require_admin(request)
        try:
            record = await self.tokens.revoke_async(request.path_params["name"])
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return JsonResponse({"name": record.name, "revoked_at": record.revoked_at})

    async def list_backups(self, request: Request) -> Response:
        await self.context.require_admin(request)
        settings = self.sources.settings
        supported = backups_supported(settings)
        files = list_backups(settings.backup_dir) if supported else []
        return JsonResponse({"supported": supported, "backups": [file.as_json() for file in files]})

    async def run_backup(self, request: Request) -> Response:
        await self.context.require_admin(request)
        settings = self.sources.settings
        if not backups_supported(settings):
            raise ApiError(
                409,
                "backups_unsupported",
                "this server uses PostgreSQL: back it up with pg_dump "
                "(e.g. pg_dump -Fc -f onebin.dump URL)",
            )
        try:
            taken = await asyncio.to_thread(
                take_backup, settings.database_path, settings.backup_dir, datetime.now(UTC)
            )
        except BackupExists as exc:
            raise ApiError(409, "backup_exists", str(exc)) from None
        except StoreError as exc:  # the copy failed (disk full, damage): nothing was kept
            raise ApiError(503, "backup_failed", str(exc)) from None
        return JsonResponse(taken.as_json(), 201)

    async def download_backup(self, request: Request) -> Response:
        await self.context.require_admin(request)
        name = request.path_params["name"]
        path = backup_path(self.sources.settings.backup_dir, name)
        if path is None or not backups_supported(self.sources.settings) or not path.is_file():
            raise ApiError(404, "not_found", f"no backup named {name!r}")
        return FileResponse(path, media_type="application/octet-stream", filename=path.name)

    async def list_jobs(self, request: Request) -> Response:
        await self.context.require_admin(request)
        state = request.query_params.get("state") or None
        if state is not None and state not in STATES:
            raise ApiError(400, "invalid_query", f"state: one of {', '.join(STATES)}")
        limit = query_int(request, "limit", 50, int_in(1, MAX_JOBS))
        records = await self.sources.jobs.list_async(state=state, limit=limit)
        return JsonResponse({"jobs": [job_json(record) for record in records]})

    async def retry_job(self, request: Request) -> Response:
        await self.context.require_admin(request)
        job_id = path_id(request, "job_id")
        try:
            record = await self.sources.jobs.retry_async(job_id)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except StoreFault:
            raise
        except StoreError as exc:  # the job is in a state that cannot be retried
            raise ApiError(409, "not_retryable", str(exc)) from None
        return JsonResponse(job_json(record))

    async def list_webhooks(self, request: Request) -> Response:
        await self.context.require_admin(request)
        webhooks = await self.webhooks.list_async()
        return JsonResponse({"webhooks": [webhook.as_json() for webhook in webhooks]})

    async def list_requests(self, request: Request) -> Response:
        await self.context.require_admin(request)
        limit = query_int(request, "limit", 100, int_in(1, CAPACITY))
        host = self.sources.host
        latest = host.requests.latest(limit) if host is not None else []
        return JsonResponse({"requests": [entry.as_json() for entry in latest]})
