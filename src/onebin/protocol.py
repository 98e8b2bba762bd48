"""uvicorn's HTTP protocol with the limits an Internet-facing server needs.

uvicorn (with httptools) parses HTTP well but has no header-read timeout, no cap
on header size or on open connections, and accepts any ``Host`` and transfer
coding. Without a proxy in front, those gaps are onebin's to close: a slowloris
client could hold every connection, a flood of idle sockets exhaust file
descriptors, and an unusual ``Transfer-Encoding`` is the raw material of request
smuggling. The checks run in the parser callbacks, before the app sees anything,
and refusals are JSON like every other error.

This subclasses a uvicorn class that is not public API; the pinned uvicorn
version and ``tests/test_protocol.py`` keep it honest.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from http import HTTPStatus

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from onebin.http import ErrorBody, ErrorDetail

_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(:[0-9]{1,5})?")


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1024


class Refusal(Exception):
    """Raised inside a parser callback to refuse the request with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def check_request_head(headers: list[tuple[bytes, bytes]], http_version: str) -> None:
    """Refuse heads that are malformed or ambiguous; pure, so tests need no socket."""
    hosts = [value for name, value in headers if name == b"host"]
    if len(hosts) > 1:
        raise Refusal(400, "invalid_host", "more than one Host header")
    if not hosts and http_version == "1.1":
        raise Refusal(400, "invalid_host", "HTTP/1.1 requests need a Host header")
    if hosts and not _HOST.fullmatch(hosts[0]):
        raise Refusal(400, "invalid_host", "the Host header is not a valid host[:port]")
    codings = [value.strip().lower() for name, value in headers if name == b"transfer-encoding"]
    if codings and codings != [b"chunked"]:
        raise Refusal(400, "bad_transfer_encoding", "only Transfer-Encoding: chunked is accepted")


def error_bytes(status: int, code: str, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 error response with a JSON body."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    payload = msgspec.json.encode(body)
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + payload


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """A protocol class bound to ``limits`` (uvicorn instantiates it per connection)."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _refusal: Refusal | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._refuse(
                    Refusal(503, "too_many_connections", "server is at its connection limit")
                )
                return
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            if self._header_timer is None:
                self._arm_header_timer()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            try:
                check_request_head(self.headers, self.parser.get_http_version())
            except Refusal as refusal:
                # httptools turns this into a parser error; uvicorn then calls
                # send_400_response, which answers with the remembered refusal.
                self._refusal = refusal
                raise
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            refusal = self._refusal or Refusal(400, "bad_request", "malformed HTTP request")
            self._refuse(refusal)

        def _count_head(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > limits.max_header_bytes:
                self._refusal = Refusal(
                    431,
                    "headers_too_large",
                    f"request line and headers exceed {limits.max_header_bytes} bytes",
                )
                raise self._refusal

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(limits.header_timeout, self._header_timeout)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            self._refuse(Refusal(408, "header_timeout", "request headers took too long"))

        def _refuse(self, refusal: Refusal) -> None:
            self._disarm_header_timer()
            if not self.transport.is_closing():
                self.transport.write(error_bytes(refusal.status, refusal.code, refusal.message))
                self.transport.close()

    return GuardedHttpToolsProtocol
