"""``GET /metrics``: every worker's metrics, and what storage holds, for Prometheus.

Who may scrape: a client on this host (loopback: a Prometheus or an agent next to
the server) freely, anyone else only with an admin token. The client is the
address after ``--trusted-proxies`` resolution, so a request relayed by a trusted
proxy on this host counts as its real client's. (A proxy on this host that is NOT
in ``--trusted-proxies`` makes every client look local: such a setup needs the
flag anyway, for the rate limits to see clients apart.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from onebin.app import Context
from onebin.http import ApiError, bearer_token, error_response
from onebin.metrics.state import Stored, StoredCollector, read_stored
from onebin.server.clients import ip_address
from onebin.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("onebin")
PATH = "/metrics"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (IPv4-mapped too); False for anything else,
    names and garbage included. Pure."""
    address = ip_address(host)
    return address is not None and address.is_loopback


async def authorize(context: Context, request: Request) -> None:
    """Let a loopback client or an admin token through; else an ``ApiError``: 401
    without a token (or with a bad one, rate-limited like any), 403 with a write token."""
    if request.client is not None and is_loopback(request.client.host):
        return
    if bearer_token(request) is None:
        raise ApiError(
            401,
            "unauthorized",
            "metrics are served to clients on this host, or with an admin token: "
            "Authorization: Bearer <admin token>",
            {"www-authenticate": 'Bearer realm="onebin"'},
        )
    await context.require_admin(request)


class Scraped(Collector):
    """One scrape: the counts in every worker's files and what ``stored`` holds, by
    name (a person reading the page finds a metric where the alphabet says)."""

    def __init__(self, stored: Stored) -> None:
        self.stored = stored

    def collect(self) -> list[Metric]:
        families = [
            *MultiProcessCollector(None).collect(),
            *StoredCollector(self.stored).collect(),
        ]
        return sorted(families, key=lambda family: family.name)


def render(registry: CollectorRegistry, accept: str) -> Response:
    """The exposition format the scraper asked for (OpenMetrics or Prometheus text)."""
    encode, content_type = choose_encoder(accept)
    return Response(
        encode(registry), headers={"content-type": content_type, "cache-control": "no-store"}
    )


def metrics_app(context: Context) -> ASGIApp:
    """The ``/metrics`` endpoint of one serving process (GET and HEAD)."""

    async def scrape(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        try:
            await authorize(context, request)
        except ApiError as error:
            await error_response(error.status, error.code, error.message, error.headers)(
                scope, receive, send
            )
            return
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Scraped(await read_stored(context)))
        await render(registry, request.headers.get("accept", ""))(scope, receive, send)

    return scrape


def with_metrics(
    paths: Callable[[str], ASGIApp | None], context: Context, claimed: Container[str]
) -> Callable[[str], ASGIApp | None]:
    """onebin's own ``paths`` (path -> handler) and ``/metrics``, which takes precedence
    over a route of the app's (``claimed``) with a warning: with ``--metrics`` off the
    path is the app's, so the app cannot be refused for it."""
    if PATH in claimed:
        logger.warning("--metrics: onebin answers %s, not the app's route of that path", PATH)
    scrape = metrics_app(context)
    return lambda path: scrape if path == PATH else paths(path)
