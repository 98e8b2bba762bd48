"""The access log and request ids: one line per request, and an id on every answer.

``observed`` wraps a listener's app. Each request gets an id: the one its
``X-Request-ID`` header brings when well-formed (a proxy's or a client's, so one id
follows the request through every log), else a new one. The answer carries it in
``X-Request-ID``; every log line written while the request is handled carries it
too (``onebin.logs.request_id``).

When the answer ends, one line on ``onebin.access`` (INFO): client address (already
resolved through ``--trusted-proxies``), method, path, status, body bytes sent,
duration and request id. The path is logged without its query string, which may
carry secrets (a token, an e-mail address); no header is logged, so neither is
``Authorization``; a path longer than ``MAX_LOGGED_PATH`` is cut (log shippers split
long lines: Docker at 16 KB). A long answer (an event stream) is logged when it
ends. The status is the one the client got (``outcome``): the app's; 499 with 0
bytes if the client went away before the app answered; 503 if a shutdown cut the
request off first; 500 if the app failed or ended without answering (uvicorn
answers 500 then); the protocol's 408 if it cut the request off because its body
came too slowly.

Requests the protocol refuses before the app sees them (``refused``: a head too
large, malformed or too slow) are logged the same way; connections turned away
at the connection caps before any request is read are not requests and are not
logged. ``--access-log off`` silences the lines; ids and observers stay.

Cheap because it runs on every request: only if the access log is on, and then
without a ``LogRecord`` (``onebin.logs.direct``), the lines of one turn of the event
loop made and written together at its end (``StderrHandler.write_soon``). Through
``logging``, a line cost 23 µs of CPU in a busy server; this way, 6 µs
(``bench/api.py --access-log-cost``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from onebin.logs import ACCESS_LOGGER, LineFormatter, RepeatLimiter, direct, request_id
from onebin.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(ACCESS_LOGGER)
observer_errors = RepeatLimiter(logging.getLogger("onebin"), window=60.0)

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Where the wrapper leaves the request's id, and where the protocol leaves the status
# and body bytes it answered itself when it cut a running request off (a body that
# came too slowly).
SCOPE_REQUEST_ID = "onebin.request_id"
SCOPE_REFUSED = "onebin.refused"

MAX_LOGGED_PATH = 2048
CLIENT_CLOSED = 499  # nginx's: the client went away before it was answered
CUT_BY_SHUTDOWN = 503
FAILED = 500


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished request, as logged and as observers see it."""

    started: float  # time.time() when the request began
    request_id: str
    client: str  # "" when unknown
    method: str
    path: str
    status: int
    bytes: int  # response body bytes sent
    duration: float  # seconds, until the response ended


Observer = Callable[[RequestRecord, Scope], None]


def valid_request_id(value: bytes) -> str | None:
    """``value`` as a request id if it is one: 1 to 128 of ``A-Z a-z 0-9 . _ : -``.

    Anything else (spaces, quotes, control characters, a line break meant to forge
    a header or a log line, non-ASCII) is refused and replaced, so an id is safe to
    echo in a header and to write in a log line as it is.
    """
    return value.decode("ascii") if _REQUEST_ID.fullmatch(value) else None


def new_request_id() -> str:
    """16 random hex digits: unique enough among the requests of one log."""
    return os.urandom(8).hex()


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The id of a request with these (lower-case) headers: its first
    ``X-Request-ID`` if well-formed, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return valid_request_id(value) or new_request_id()
    return new_request_id()


def printable(raw: bytes) -> str:
    """``raw`` (a path as sent) with spaces and every byte outside printable ASCII as
    ``\\xHH``, cut after ``MAX_LOGGED_PATH`` bytes: a path can never break a log line,
    forge another or bloat it."""
    cut = len(raw) > MAX_LOGGED_PATH
    text = raw[:MAX_LOGGED_PATH].decode("latin-1")
    if not (text.isascii() and text.isprintable() and " " not in text):
        text = "".join(c if " " < c <= "~" else f"\\x{ord(c):02x}" for c in text)
    return text + "..." if cut else text


def outcome(
    sent: int,
    size: int,
    *,
    client_gone: bool,
    error: BaseException | None,
    refused: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The status and body bytes to log for a request. Pure.

    ``sent``, ``size``: the status the app answered (0 if none) and the body bytes it
    sent; ``client_gone``: the client left before that answer, so none of it went
    out; ``refused``: the status and body bytes the protocol answered instead when
    it cut the request off.
    """
    if refused:
        return refused
    if client_gone:
        return CLIENT_CLOSED, 0
    if sent:
        return sent, size
    if isinstance(error, asyncio.CancelledError):
        return CUT_BY_SHUTDOWN, 0
    return FAILED, 0


def log_request(entry: RequestRecord) -> None:
    """Write ``entry``'s access line, if the access log is on."""
    if not logger.isEnabledFor(logging.INFO):
        return
    to = direct(logger)
    if to is None:
        record = logger.makeRecord(ACCESS_LOGGER, logging.INFO, "", 0, _message(entry), None, None)
        record.request_id = entry.request_id
        record.fields = _fields(entry)
        logger.handle(record)
        return
    handler, formatter = to
    with handler.lock:  # type: ignore[union-attr]
        handler.write_soon(_line, formatter, time.time(), entry)


def _line(formatter: LineFormatter, created: float, entry: RequestRecord) -> str:
    fields = _fields(entry) if formatter.structured else None
    return formatter.line(created, "INFO", ACCESS_LOGGER, _message(entry), entry.request_id, fields)


def _message(entry: RequestRecord) -> str:
    """An access line's message: what a person reads in it."""
    return (
        f"{entry.client or '-'} {entry.method or '-'} {entry.path or '-'} {entry.status} "
        f"{entry.bytes} {entry.duration * 1000:.1f}ms"
    )


def _fields(entry: RequestRecord) -> dict[str, Any]:
    """An access line's structured fields (beside ``request_id``)."""
    return {
        "client": entry.client,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "bytes": entry.bytes,
        "duration_ms": round(entry.duration * 1000, 3),
    }


def refused(
    *, rid: str, client: str, method: str, path: bytes, status: int, size: int, duration: float
) -> None:
    """The access line of a request the protocol answered itself."""
    log_request(
        RequestRecord(
            started=time.time() - duration,
            request_id=rid,
            client=client,
            method=method,
            path=printable(path),
            status=status,
            bytes=size,
            duration=duration,
        )
    )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _notify(observers: Sequence[Observer], entry: RequestRecord, scope: Scope) -> None:
    for observer in observers:
        try:
            observer(entry, scope)
        except Exception:
            name = getattr(observer, "__qualname__", repr(observer))
            observer_errors.log(
                logging.ERROR, f"observer {name}", f"request observer {name} failed", exc_info=True
            )


def observed(app: ASGIApp, *, access_log: bool, observers: Sequence[Observer] = ()) -> ASGIApp:
    """``app`` with a request id on every answer and log line, an access line per
    request (``access_log``), and ``observers`` told of each finished request.

    ``observers`` is read at every request, not copied: one added to the list later
    is called too. One that raises is logged (once a minute) and the request goes on.
    """

    async def observing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.time()
        clock = time.perf_counter()
        rid = request_id_from(scope["headers"])
        request_id.set(rid)  # in this request's own task: no reset needed
        scope[SCOPE_REQUEST_ID] = rid
        header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        status = size = 0
        ended: float | None = None
        gone = False
        bodiless = scope["method"] == "HEAD"  # the server drops what the app sends

        async def receiving() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not status:
                gone = True
            return message

        async def sending(message: Message) -> None:
            nonlocal status, size, ended
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                # A new message: an app may send the same one (and header list) again.
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif kind == "http.response.body":
                if not bodiless:
                    size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    ended = time.perf_counter()
            await send(message)

        error: BaseException | None = None
        try:
            await app(scope, receiving, sending)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if access_log or observers:
                final, sent = outcome(
                    status, size, client_gone=gone, error=error, refused=scope.get(SCOPE_REFUSED)
                )
                entry = RequestRecord(
                    started=started,
                    request_id=rid,
                    client=_client(scope),
                    method=scope["method"],
                    path=printable(scope.get("raw_path") or scope["path"].encode()),
                    status=final,
                    bytes=sent,
                    duration=(ended or time.perf_counter()) - clock,
                )
                if access_log:
                    log_request(entry)
                _notify(observers, entry, scope)

    return observing
