"""uvicorn's HTTP protocol with the limits an Internet-facing server needs.

uvicorn (with httptools) parses HTTP well but has no header-read timeout, no body
timeout outside the handler, no cap on header size, and accepts any ``Host`` and
transfer coding. Without a proxy in front, those gaps are onebin's to close:

- the request head must arrive within ``header_timeout``, and a request body
  within ``body_timeout`` whether or not the handler reads it (a body trickling in
  after the answer used to keep a connection for minutes, because every byte reset
  uvicorn's keep-alive timer);
- ambiguous heads (smuggling material), WebSocket upgrades and oversized heads are
  refused in the parser callbacks, before the app sees anything;
- the client address comes from forwarding headers only behind a trusted proxy.

Connections reach this protocol already admitted against the caps (``accept``).
Every refusal is a JSON error like every other answer, with HSTS on HTTPS.

This subclasses a uvicorn class that is not public API; the pinned uvicorn
version and ``tests/server/test_protocol.py`` keep it honest.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import struct
from dataclasses import dataclass
from http import HTTPStatus

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from onebin import metrics
from onebin.http import ErrorBody, ErrorDetail
from onebin.server.access import (
    CLIENT_CLOSED,
    SCOPE_REFUSED,
    SCOPE_REQUEST_ID,
    refused,
    request_id_from,
)
from onebin.server.clients import TrustedProxies
from onebin.server.connections import ConnectionRegistry

_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(:[0-9]{1,5})?")
HSTS = b"max-age=31536000"


# What a header line costs beyond its name and value (": " and CRLF): counted, so
# that 65,000 empty headers cost what their bytes do.
HEADER_LINE_OVERHEAD = 4
# After a refusal, how long what the client still sends is read and dropped, so that
# its unread bytes do not turn the close into a reset that loses the answer.
LINGER = 1.0
# SO_LINGER on, zero seconds: close() resets the connection and discards unsent data.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 64 * 1024
    # Apache's default. Each header costs parser callbacks on the event loop: 65,000
    # tiny ones in one request took 64 ms of it.
    max_headers: int = 100


class Refusal(Exception):
    """Raised inside a parser callback to refuse the request with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _has_token(headers: list[tuple[bytes, bytes]], name: bytes, token: bytes) -> bool:
    return any(
        token in (part.strip().lower() for part in value.split(b","))
        for header, value in headers
        if header == name
    )


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
    if _has_token(headers, b"upgrade", b"websocket"):
        raise Refusal(400, "websocket_not_supported", "this server does not accept WebSockets")


def expects_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        (name == b"content-length" and value.strip() not in (b"0", b""))
        or name == b"transfer-encoding"
        for name, value in headers
    )


def error_bytes(
    status: int,
    code: str,
    message: str,
    *,
    hsts: bool = False,
    retry_after: int | None = None,
    request_id: str | None = None,
) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 error response with a JSON body."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    payload = msgspec.json.encode(body)
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "cache-control: no-store\r\n"
    )
    if retry_after is not None:
        head += f"retry-after: {retry_after}\r\n"
    if hsts:
        head += f"strict-transport-security: {HSTS.decode()}\r\n"
    if request_id is not None:
        head += f"x-request-id: {request_id}\r\n"
    return (head + "connection: close\r\n\r\n").encode("ascii") + payload


@dataclass(frozen=True)
class Listening:
    """What one listener's connections share."""

    limits: Limits
    registry: ConnectionRegistry
    proxies: TrustedProxies
    tls: ssl.SSLContext | None = None


def guarded_protocol(listening: Listening) -> type[HttpToolsProtocol]:
    """A protocol class bound to ``listening`` (uvicorn instantiates it per connection)."""
    limits, registry, proxies, tls = (
        listening.limits,
        listening.registry,
        listening.proxies,
        listening.tls,
    )
    hsts = tls is not None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        # When the current phase must be over, and which phase: "head" (TLS handshake
        # and request head) or "body". None: idle between requests, or a handler at
        # work, where uvicorn's keep-alive timer and the database's deadlines apply.
        deadline: float | None = None
        _phase = "head"
        # Set by the acceptor: the admission to give back when the connection ends.
        client_key: str | None = None
        _released = False
        _lingering = False
        _head_bytes = 0
        _refusal: Refusal | None = None
        # When (loop time) the head of the request being read began to arrive; None
        # while none is: between requests, or once the app has it.
        _begun: float | None = None
        # A later request's refusal, held until the earlier request it was pipelined
        # behind has its answer: answers go out in the order the requests came.
        _held: Refusal | None = None
        url = b""  # until uvicorn sets it, at the start of the first request

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            registry.live.add(self)
            self._expect("head", limits.header_timeout)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._begun is not None and not self._lingering:
                # The client left halfway through a request head: still a request.
                self._log_refusal(CLIENT_CLOSED, request_id_from(self.headers), 0)
            self._release()
            super().connection_lost(exc)

        def hang_up(self) -> None:
            """Reset the connection, dropping what the client has not taken.

            A plain close, or the transport's abort, leaves the kernel holding the
            unsent bytes of an orphaned socket for minutes; a zero linger makes the
            close a reset that frees them now.
            """
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            self.transport.abort()

        def _expect(self, phase: str, seconds: float) -> None:
            self._phase = phase
            self.deadline = self.loop.time() + seconds

        def _release(self) -> None:
            if not self._released:
                self._released = True
                self.deadline = None
                registry.live.discard(self)
                registry.release(self.client_key)

        def expire(self) -> None:
            """Called by the registry's sweep when the current phase's deadline passed."""
            self.deadline = None
            if self._phase == "head":
                self._refuse(Refusal(408, "header_timeout", "request headers took too long"))
            else:
                self._refuse(Refusal(408, "body_timeout", "request body took too long to arrive"))

        def on_message_begin(self) -> None:
            super().on_message_begin()
            # A long response (an event stream) drops a client that stopped reading
            # with this: closing would wait for the unsent bytes to flush, forever.
            self.scope["extensions"] = {"onebin.abort": self.hang_up}
            self._head_bytes = 0
            self._begun = self.loop.time()
            if self.deadline is None:
                self._expect("head", limits.header_timeout)

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + HEADER_LINE_OVERHEAD)
            if len(self.headers) >= limits.max_headers:
                self._refusal = Refusal(
                    431, "too_many_headers", f"more than {limits.max_headers} header fields"
                )
                raise self._refusal
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            try:
                check_request_head(self.headers, self.parser.get_http_version())
            except Refusal as refusal:
                # httptools turns this into a parser error; uvicorn then calls
                # send_400_response, which answers with the remembered refusal.
                self._refusal = refusal
                raise
            if proxies:
                self._resolve_client()
            super().on_headers_complete()
            self._begun = None  # the app's now, and its access line
            if expects_body(self.headers):
                self._expect("body", limits.body_timeout)
            else:
                self.deadline = None
            if self.parser.should_upgrade():
                # An upgrade onebin does not speak (h2c): answer as HTTP/1.1 and close,
                # because the parser will not read another request on this connection.
                self.cycle.keep_alive = False

        def on_message_complete(self) -> None:
            self.deadline = None
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._held is not None:
                held, self._held = self._held, None
                self._refuse(held)
                return
            # Bytes of a next request restart uvicorn's keep-alive timer with every
            # packet; the head deadline bounds a client that sends them slowly.
            if not self.transport.is_closing() and not self.pipeline and self.deadline is None:
                self._expect("head", limits.header_timeout)

        def _resolve_client(self) -> None:
            peer = self.client[0] if self.client else ""
            forwarded = [v for n, v in self.headers if n == b"x-forwarded-for"]
            proto = [v for n, v in self.headers if n == b"x-forwarded-proto"]
            self.scope["client"] = (proxies.client(peer, forwarded), 0)
            scheme = proxies.scheme(peer, proto)
            if scheme is not None:
                self.scope["scheme"] = scheme

        def send_400_response(self, msg: str) -> None:
            refusal = self._refusal or Refusal(400, "bad_request", "malformed HTTP request")
            if self._begun is None:  # bytes that did not even begin a request: still one
                self._begun = self.loop.time()
            self._refuse(refusal)

        def _unsupported_upgrade_warning(self) -> None:
            pass  # handled in on_headers_complete; uvicorn's two warnings per request would flood

        def _count_head(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > limits.max_header_bytes:
                self._refusal = Refusal(
                    431,
                    "headers_too_large",
                    f"request line and headers exceed {limits.max_header_bytes} bytes",
                )
                raise self._refusal

        def _refuse(self, refusal: Refusal) -> None:
            self.deadline = None
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete and self._begun is not None:
                # The refused head is a later request's (``_begun``: one is being
                # read), pipelined behind one still being answered.
                self._held = refusal
                return
            running = cycle is not None and not cycle.response_complete
            # (A finished earlier request's answer has nothing to do with this one.)
            started = running and cycle.response_started
            if running:
                # The handler may still answer later; that answer must go nowhere.
                cycle.disconnected = True
                cycle.message_event.set()
            transport = self.transport
            if transport.is_closing() or self._lingering:
                return
            metrics.recorder().refused(refusal.code)
            if not started:
                rid = cycle.scope.get(SCOPE_REQUEST_ID) if running else None
                if rid is None:
                    heard = self.headers if self._begun is not None and self.headers else ()
                    rid = request_id_from(heard)
                answer = error_bytes(
                    refusal.status, refusal.code, refusal.message, hsts=hsts, request_id=rid
                )
                transport.write(answer)
                size = len(answer.partition(b"\r\n\r\n")[2])
                if running:  # the app's access line tells what the client got instead
                    cycle.scope[SCOPE_REFUSED] = (refusal.status, size)
                else:
                    self._log_refusal(refusal.status, rid, size)
            if not transport.can_write_eof():  # TLS: close_notify, then close
                transport.close()
                return
            transport.write_eof()
            self._lingering = True
            self.loop.call_later(LINGER, transport.close)

        def _log_refusal(self, status: int, rid: str, size: int) -> None:
            """The access line of a refused request; none if no request began (an idle
            connection timed out), as for a connection refused at the caps."""
            begun, self._begun = self._begun, None
            if begun is None:
                return
            # The URL arrives after the method: with some of it, the method is known.
            refused(
                rid=rid,
                client=self.client[0] if self.client else "",
                method=self.parser.get_method().decode("ascii", "replace") if self.url else "",
                path=self.url.partition(b"?")[0],
                status=status,
                size=size,
                duration=self.loop.time() - begun,
            )

        def data_received(self, data: bytes) -> None:
            # After a refusal (or while one is held), the rest is dropped unread.
            if not self._lingering and self._held is None:
                super().data_received(data)

    return GuardedHttpToolsProtocol
