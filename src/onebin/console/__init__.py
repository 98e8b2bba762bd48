"""The admin console: a page and a JSON API under ``/_onebin/``, served for every app.

- ``overview``: the overview dict, shared by the API and ``onebin status``;
- ``api``: ``/_onebin/api/*``, every route behind an admin token;
- ``recent``: the ring of recent requests shared by the workers of a host;
- ``host``: what the console knows of the serving processes (made before the fork);
- ``backups``: the backups directory, listed, added to and served;
- ``render``: the overview as text, for ``onebin status``;
- ``web``: the page's static files (hand-written HTML, JS and CSS).

``console_app`` is the one ASGI callable ``compose.build_app`` hands every path
below ``/_onebin/`` (and ``/_onebin`` itself): the API, else the page's files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType

from starlette.routing import BaseRoute

from onebin.app import App, Context
from onebin.assets import AssetsApp, SecurityHeaders
from onebin.assets.index import package_index
from onebin.console.api import PREFIX as API_PREFIX
from onebin.console.api import ConsoleApi, no_store
from onebin.console.host import Host
from onebin.console.overview import Sources
from onebin.health import Readiness
from onebin.http import error_response
from onebin.types import ASGIApp, Receive, Scope, Send

PREFIX = "/_onebin"
PAGE_PACKAGE = "onebin.console.web"
# The app's own policy does not apply here: the console is onebin's page. No inline
# script or style at all (not even style attributes), nothing from elsewhere, never
# framed, and no Referer with the console's URL.
PAGE_HEADERS = SecurityHeaders(
    content_security_policy=MappingProxyType(
        {
            "default-src": "'none'",
            "script-src": "'self'",
            "style-src": "'self'",
            "img-src": "'self' data:",
            "connect-src": "'self'",
            "base-uri": "'none'",
            "form-action": "'none'",
            "frame-ancestors": "'none'",
        }
    ),
    referrer_policy="no-referrer",
    extra={"x-frame-options": "DENY", "cross-origin-opener-policy": "same-origin"},
)


def in_console(path: str) -> bool:
    """Whether ``path`` is the console's: ``/_onebin`` or anything below ``/_onebin/``."""
    return path.startswith(PREFIX) and (len(path) == len(PREFIX) or path[len(PREFIX)] == "/")


def page_scope(scope: Scope) -> Scope | None:
    """``scope`` as the page's files see it: the prefix taken off ``path`` and
    ``raw_path`` (``/_onebin`` and ``/_onebin/`` are the page, ``/``). None when the
    raw path does not start with the prefix as sent (an escaped ``_``): such a path
    names no file, and the raw path is what the assets handler checks escapes in."""
    path = scope["path"][len(PREFIX) :] or "/"
    raw = scope.get("raw_path")
    if raw is not None:
        prefix = PREFIX.encode()
        if not raw.startswith(prefix):
            return None
        raw = raw[len(prefix) :] or b"/"
    return {**scope, "path": path, "raw_path": raw}


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await error_response(404, "not_found", "no such path")(scope, receive, send)


def console_app(
    context: Context,
    app: App,
    readiness: Readiness,
    host: Host,
    router: Callable[[Sequence[BaseRoute]], ASGIApp],
) -> ASGIApp:
    """The whole console: the API below ``/_onebin/api/``, the page's files elsewhere.

    ``router`` makes the API's routes one ASGI app (compose's ``JsonApi``, so the
    console's 404s and database faults are answered like the app's own API).
    """
    # The readiness checks' database is the context's, typed as the engine it is.
    sources = Sources(context.settings, app, readiness.db, readiness, context.jobs, host)
    api = no_store(router(ConsoleApi(context, sources).routes()))
    # Never content-hashed: each file is revalidated, so an upgrade shows at once.
    page = AssetsApp(
        package_index(PAGE_PACKAGE, immutable=lambda path: False, headers=PAGE_HEADERS)
    )
    api_below = API_PREFIX + "/"

    async def console(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith(api_below) or path == API_PREFIX:
            await api(scope, receive, send)
            return
        stripped = page_scope(scope)
        if stripped is None:
            await _not_found(scope, receive, send)
            return
        await page(stripped, receive, send)

    return console
