"""HTTP helpers shared by every JSON API built on onebin.

The one rule they enforce: a client error is a 4xx with a JSON body
``{"error": {"code", "message"}}`` whatever went wrong (bad JSON, bad UTF-8, too
large, wrong type), never a 500 and never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from onebin.errors import (
    DatabaseDamaged,
    DatabaseUnavailable,
    QueryTimeout,
    StorageFull,
    StoreFault,
    WriteTimeout,
)
from onebin.types import Receive, Scope, Send

T = TypeVar("T")

API_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
_API_RAW_HEADERS = [(k.encode(), v.encode()) for k, v in API_HEADERS.items()] + [
    (b"content-type", b"application/json")
]


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


class ApiError(Exception):
    """Raise anywhere in a handler to answer ``{"error": {"code", "message"}}``.

    ``status`` is the HTTP status (a 4xx for what the client did), ``code`` a stable
    machine-readable word, ``message`` a sentence for a person; ``headers`` are
    added to the answer (``Retry-After``, ``WWW-Authenticate``...).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class JsonResponse(Response):
    """``content`` as JSON (dicts, lists, msgspec ``Struct``s, dataclasses), ``status``,
    and onebin's API headers (``nosniff``, ``no-cache``, no framing, no referrer).

    The fixed headers are encoded once, not per request:
    header encoding was a third of the API's own per-request time; the API's
    ``GET`` has a throughput target relative to static files.
    """

    media_type = "application/json"

    def __init__(
        self, content: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status
        self.body = msgspec.json.encode(content)
        self.background = None
        self.raw_headers = [
            *_API_RAW_HEADERS,
            (b"content-length", str(len(self.body)).encode()),
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
        ]


def not_modified(etag: str) -> Response:
    """A 304 for a conditional GET whose ``If-None-Match`` matched ``etag``.

    RFC 9110 §15.4.5: it carries the ``Cache-Control`` its 200 would have had.
    """
    return Response(
        status_code=304, headers={"etag": etag, "cache-control": API_HEADERS["cache-control"]}
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JsonResponse(body, status, headers)


# A fault of the database as an HTTP answer: status, code, and Retry-After seconds.
_FAULTS: dict[type[StoreFault], tuple[int, str, int | None]] = {
    QueryTimeout: (503, "query_timeout", 1),
    WriteTimeout: (503, "write_timeout", 1),
    StorageFull: (507, "storage_full", None),
    DatabaseDamaged: (503, "database_damaged", None),
    DatabaseUnavailable: (503, "database_unavailable", 5),
}


def fault_response(fault: StoreFault) -> Response:
    """The JSON 5xx for a database fault; the request itself was fine."""
    status, code, retry_after = _FAULTS.get(type(fault), (503, "database_unavailable", 5))
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    return error_response(status, code, str(fault), headers)


@dataclass(frozen=True)
class BodyLimits:
    """How much body a handler accepts. The time a body may take is enforced for
    every request by the HTTP protocol (``--body-timeout``), not here."""

    max_bytes: int = 1024 * 1024


async def read_body(request: Request, limits: BodyLimits) -> bytes:
    """The whole body, refusing a too-large one (413) as soon as that is known."""
    max_bytes = limits.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "body_too_large", f"request body is larger than {max_bytes} bytes")
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(
                    413, "body_too_large", f"request body is larger than {max_bytes} bytes"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to read the answer; this ends the handler without a log line.
        raise ApiError(400, "client_disconnected", "the client went away mid-body") from None
    return b"".join(chunks)


async def read_json(request: Request, model: type[T], limits: BodyLimits) -> T:
    """Decode and validate a JSON body into ``model``, or raise a 4xx ``ApiError``.

    ``model`` is any type msgspec decodes into, typically a ``msgspec.Struct`` with
    ``forbid_unknown_fields=True`` and ``Meta`` length limits. Answers: 415 if the body
    is not ``application/json``, 413 past ``limits``, 400 for malformed JSON or UTF-8,
    422 naming the field for a wrong or missing value.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    body = await read_body(request, limits)
    try:
        return msgspec.json.decode(body, type=model)
    except msgspec.ValidationError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_utf8", "request body is not valid UTF-8") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None


Handler = Callable[[Request], Awaitable[Response]]


class Resource:
    """One path's handlers as a plain ASGI endpoint.

    Starlette wraps function endpoints in two exception-handling layers per
    request; an ASGI endpoint skips them. ``ApiError`` becomes its JSON answer here,
    so the API's hot ``GET`` stays close to the cost of a static file.
    """

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        handler = self.handlers["GET" if method == "HEAD" else method]
        try:
            response = await handler(Request(scope, receive))
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.headers)
        await response(scope, receive, send)


def resource(path: str, handlers: Mapping[str, Handler]) -> Route:
    """A Starlette ``Route`` for ``path`` with one async handler per method.

    A handler takes a Starlette ``Request`` and returns a ``Response``; ``HEAD`` is
    answered by the ``GET`` handler, another method gets a JSON 405 whose ``Allow``
    names every method of the path, and an ``ApiError`` becomes its JSON answer.
    ``path`` uses Starlette's syntax (``/entries/{entry_id}``).
    """
    return Route(path, Resource(handlers), methods=list(handlers))


def bearer_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()
