"""Security headers on what an application's own routes answer.

Static pages get their headers when the index is built, and onebin's JSON answers
carry theirs; a route of the app can answer anything (an HTML page from a
template, a file), so its answer is completed on the way out: ``nosniff`` on every
answer, and on HTML the app's ``SecurityHeaders`` (CSP, Referrer-Policy, extras)
unless the route set its own. Such a page's inline scripts have no hashes in the
policy (the body is not known when the headers are sent): a route serving inline
script allows it through ``SecurityHeaders.allow`` or sends its own policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from onebin.assets import SecurityHeaders
from onebin.types import ASGIApp, Message, Receive, Scope, Send

RawHeaders = list[tuple[bytes, bytes]]
NOSNIFF = (b"x-content-type-options", b"nosniff")


def completed(
    headers: Sequence[tuple[bytes, bytes]], page: RawHeaders
) -> Sequence[tuple[bytes, bytes]]:
    """``headers`` with ``nosniff`` added, and ``page`` too when the answer is HTML.

    A header the route set itself is never replaced; ``headers`` itself comes back
    when nothing is missing (onebin's JSON answers), so they cost no copy.
    """
    present = {name.lower() for name, _ in headers}
    added = [] if NOSNIFF[0] in present else [NOSNIFF]
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    if content_type.lower().startswith(b"text/html"):
        added += [(name, value) for name, value in page if name not in present]
    return [*headers, *added] if added else headers


def secured(app: ASGIApp, security: SecurityHeaders) -> ASGIApp:
    """``app`` whose every answer is ``completed`` with ``security``'s page headers."""
    page = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in security.for_page(b"").items()
    ]

    async def secure(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_completed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                full = completed(headers, page)
                if full is not headers:
                    message = {**message, "headers": full}
            await send(message)

        await app(scope, receive, send_completed)

    return secure
