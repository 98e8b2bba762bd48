"""The plain-HTTP side of an HTTPS server, and the HSTS header of the HTTPS side.

On the HTTP port only two things happen: the CA fetches HTTP-01 answers, and every
other request is sent to HTTPS with a 308 (which, unlike 301, keeps the method and
body of an API call). Redirects go to a configured domain, never to an arbitrary
Host header, so the port cannot be used as an open redirector.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse, Response

from onebin.tls.storage import CertificateStore
from onebin.types import ASGIApp, Message, Receive, Scope, Send

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
# One year, the value HSTS preload lists expect. No includeSubDomains: this server does
# not know what runs on the other names under its domain.
HSTS = "max-age=31536000"


def _hostname(host: str) -> str:
    if host.startswith("["):  # an IPv6 literal keeps its brackets
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].lower()


def redirect_location(
    host: str, target: str, *, https_port: int, domains: Sequence[str]
) -> str | None:
    """Where to send a plain-HTTP request for ``target`` (path and query), or None.

    The requested name is kept when it is one of ``domains``; otherwise the first
    domain is used. Without configured domains (a bring-your-own certificate) the
    Host header is all there is; without one of those either, there is no answer.
    """
    name = _hostname(host)
    if domains and name not in domains:
        name = domains[0]
    if not name:
        return None
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://{name}{port}{target}"


def challenge_and_redirect_app(
    store: CertificateStore | None, *, https_port: int, domains: Sequence[str]
) -> ASGIApp:
    """The app of the HTTP port: ACME answers from ``store``, 308 to HTTPS for the rest."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        response: Response
        if path.startswith(CHALLENGE_PREFIX):
            answer = store.get_challenge(path.removeprefix(CHALLENGE_PREFIX)) if store else None
            response = PlainTextResponse(answer or "no such challenge", 200 if answer else 404)
        else:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            target = scope.get("raw_path", path.encode()).decode("latin-1")
            if scope["query_string"]:
                target += "?" + scope["query_string"].decode("latin-1")
            location = redirect_location(host, target, https_port=https_port, domains=domains)
            if location is None:
                response = PlainTextResponse("a Host header is required", 400)
            else:
                response = Response(status_code=308, headers={"location": location})
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
