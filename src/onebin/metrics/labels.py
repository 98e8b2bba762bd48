"""Label values of the metrics: few and fixed, whatever clients send.

Every distinct label value is a time series that Prometheus keeps, so a raw path
(``/api/items/17``, or whatever a scanner makes up) must never become one. A
request is labelled by the route template that answered it (``/api/items/{item_id}``),
its method by name only if it is a standard one, and its refusal by a fixed word.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from onebin.types import Scope

# RFC 9110's methods and PATCH; anything else a client makes up is "other".
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
# onebin's own paths, labelled as themselves (they are fixed, and few).
ONEBIN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ACME_CHALLENGE = "/.well-known/acme-challenge/"
CONSOLE = "/_onebin"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The connection caps' refusals by the flag that sets the cap; the protocol's codes
# (header_timeout, headers_too_large, bad_request...) are fixed words already.
_CAUSES = {
    "too_many_connections": "max_connections",
    "too_many_client_connections": "max_client_connections",
}
# The causes exported (as 0) before the first refusal, so that a rate over them has
# a start; a cause not listed here is counted all the same.
REFUSAL_CAUSES = (
    "max_connections",
    "max_client_connections",
    "header_timeout",
    "body_timeout",
    "headers_too_large",
    "too_many_headers",
    "bad_request",
    "rate_limit",
)


def method_label(method: str) -> str:
    return method if method in STANDARD_METHODS else "other"


_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def refusal_cause(code: str) -> str:
    """The ``cause`` label of a refusal with this error code."""
    return _CAUSES.get(code, code)


def without_converters(path: str) -> str:
    """``/tokens/{name:path}`` as ``/tokens/{name}``: a template as people write it in
    a query, whatever converter the route parses its parameter with. Pure."""
    return _CONVERTER.sub(r"{\1}", path)


def route_templates(routes: list[BaseRoute], prefix: str = "") -> dict[int, str | None]:
    """Each route's full template by ``id(route)``, mount paths prefixed.

    A ``Mount`` of a router maps to None: it is the route left in the scope when no
    route below it matched. A ``Mount`` of any other app answers everything below it
    and is labelled by its own path.
    """
    templates: dict[int, str | None] = {}
    for route in routes:
        if isinstance(route, Mount):
            inner = route.routes
            path = prefix + without_converters(route.path)
            templates[id(route)] = None if inner else path
            templates.update(route_templates(inner, path))
        elif isinstance(route, Route):
            templates[id(route)] = prefix + without_converters(route.path)
    return templates


class RouteLabels:
    """The ``route`` label of a finished request, from what its scope holds.

    Starlette's router leaves the route it matched in ``scope["route"]`` (the
    innermost, for a route inside a ``Mount``) and itself in ``scope["router"]``;
    the templates of a router's routes are worked out once, on its first request.
    """

    def __init__(self) -> None:
        # id(router) -> (router, its templates); the router is kept so its id stays its own.
        self._known: dict[int, tuple[Any, dict[int, str | None]]] = {}

    def label(self, scope: Scope, status: int) -> str:
        route = scope.get("route")
        router = scope.get("router")
        if route is not None and router is not None:
            known = self._known.get(id(router))
            if known is None:
                known = self._known[id(router)] = (router, route_templates(router.routes))
            template = known[1].get(id(route))
            return template if template is not None else "unmatched"
        return path_label(scope["path"], status)


def path_label(path: str, status: int) -> str:
    """The label of a request no router matched: onebin's own paths by name, then
    what answered it. Pure."""
    if path in ONEBIN_PATHS:
        return path
    if path.startswith(ACME_CHALLENGE):
        return ACME_CHALLENGE + "{token}"
    if path == CONSOLE or path.startswith(CONSOLE + "/"):  # the page's files; its API is routed
        return CONSOLE + "/{file}"
    if status in REDIRECTS:
        return "redirect"  # the HTTP port sending a request to HTTPS
    if status < 400:
        return "static"
    return "unmatched"
