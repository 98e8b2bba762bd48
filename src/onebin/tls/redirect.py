"""The plain-HTTP side of an HTTPS server, and the HSTS header of the HTTPS side.

On the HTTP port only two things happen: the CA fetches HTTP-01 answers, and every
other request is sent to HTTPS with a 308 (which, unlike 301, keeps the method and
body of an API call). Redirects only ever name a host this server holds a
certificate for: the configured domains, or the DNS names of a ``--tls-cert``. The
Host header picks among them and is never copied, so the port cannot be used as an
open redirector. Every answer but a challenge's is a JSON error body, as on the API,
so a client that does not follow the redirect still reads why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse, Response

from onebin.http import error_response
from onebin.tls.storage import CertificateStorage
from onebin.types import ASGIApp, Message, Receive, Scope, Send

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
# One year, the value HSTS preload lists expect. No includeSubDomains: this server does
# not know what runs on the other names under its domain.
HSTS = "max-age=31536000"
# One DNS label (letters, digits, hyphens): what a wildcard may stand for. Anything
# else ("/", "@", "#") could move the host of the Location URL somewhere else.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The ASGI extension that lets a WebSocket handshake be answered with a plain HTTP
# response: the redirect's JSON instead of the server's bare 403 or 500.
_DENIAL = "websocket.http.response"


def _hostname(host: str) -> str:
    """The name of a Host header value: no port, lower case, no trailing dot."""
    if host.startswith("["):  # an IPv6 literal is never one of our names
        return ""
    return host.partition(":")[0].lower().rstrip(".")


def _matches(name: str, pattern: str) -> bool:
    """RFC 6125 §6.4.3: a wildcard stands for exactly one whole leftmost label."""
    if pattern.startswith("*."):
        label, _, rest = name.partition(".")
        return _LABEL.fullmatch(label) is not None and rest == pattern[2:]
    return name == pattern


def redirect_host(host: str, names: Sequence[str]) -> str | None:
    """The host a redirect may name: the requested one if ``names`` cover it, else the first.

    ``names`` are what the certificate is valid for, wildcards included; a wildcard
    is no host to send anyone to, so the fallback is the first plain name. None when
    there is none.
    """
    requested = _hostname(host)
    if requested and any(_matches(requested, name.lower()) for name in names):
        return requested
    return next((name.lower() for name in names if not name.startswith("*.")), None)


def redirect_location(
    host: str, target: str, *, https_port: int, domains: Sequence[str]
) -> str | None:
    """Where to send a plain-HTTP request for ``target`` (path and query), or None."""
    name = redirect_host(host, domains)
    if name is None:
        return None
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://{name}{port}{target}"


def challenge_and_redirect_app(
    store: CertificateStorage | None, *, https_port: int, domains: Sequence[str]
) -> ASGIApp:
    """The app of the HTTP port: ACME answers from ``store``, 308 to HTTPS for the rest.

    ``domains`` are the names a redirect may go to (see ``redirect_host``); with none,
    requests get a 421 instead of a redirect.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _DENIAL not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] not in {"http", "websocket"}:
            return
        path: str = scope["path"]
        response: Response
        if path.startswith(CHALLENGE_PREFIX):
            token = path.removeprefix(CHALLENGE_PREFIX)
            answer = await store.challenge_answer(token) if store else None
            if answer is None:
                response = error_response(404, "no_such_challenge", "no such ACME challenge")
            else:
                response = PlainTextResponse(answer)
        else:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            target = scope.get("raw_path", path.encode()).decode("latin-1")
            if scope["query_string"]:
                target += "?" + scope["query_string"].decode("latin-1")
            location = redirect_location(host, target, https_port=https_port, domains=domains)
            if location is None:
                response = error_response(
                    421,
                    "no_https_name",
                    "this server's certificate names no host to redirect to; use https://",
                )
            else:
                response = error_response(
                    308, "https_required", f"use HTTPS: {location}", {"location": location}
                )
        await response(scope, receive, send)

    return app


def with_hsts(app: ASGIApp) -> ASGIApp:
    """``app`` with Strict-Transport-Security on every response that lacks one."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("strict-transport-security", HSTS)
            await send(message)

        await app(scope, receive, send_with_hsts)

    return wrapped
