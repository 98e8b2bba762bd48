"""The ``onebin.webhook`` job: one event POSTed, signed, to one webhook's URL.

A 2xx answer is a delivery; any other status, a timeout or a connection error
raises, so the queue retries with its back-off and, after ``MAX_ATTEMPTS``, leaves
the job dead with the last error (``onebin jobs list --state dead``). Errors name
the URL without its query string or user info, and never the secret.

The body is the event exactly as the event stream sends it (``{"id", "type",
"time", "data"}``), so a receiver parses one shape whichever way it listens.
Redirects are not followed (a 3xx is a failure: the operator should register the
final URL), and the answer's body is never read: only its status counts.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import ssl
import time
from typing import TYPE_CHECKING, cast

import httpx
import msgspec

from onebin import __version__
from onebin.jobs.library import JobSet
from onebin.jobs.queue import Job
from onebin.store.database import Database, Engine
from onebin.webhooks.rules import redacted
from onebin.webhooks.signing import signature
from onebin.webhooks.store import DELIVER, WebhookStore

if TYPE_CHECKING:
    from onebin.app import Context

logger = logging.getLogger("onebin")

CONNECT_TIMEOUT = 5.0
# The whole exchange, connecting included: a receiver that trickles its answer
# still frees the job slot in time.
REQUEST_TIMEOUT = 10.0
USER_AGENT = f"onebin-webhook/{__version__}"


# Set while a delivery's request runs, so that httpx's own log line about it is dropped:
# that line names the full URL, query string included (where some services put a
# credential), and every delivery would log one; failures are logged by the runner.
_delivering = contextvars.ContextVar("onebin_webhook_delivering", default=False)


class _WithoutDeliveries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _delivering.get()


logging.getLogger("httpx").addFilter(_WithoutDeliveries())


class DeliveryFailed(Exception):
    """The receiver did not take the event; the message says why (no secrets)."""


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds: once per process, not per delivery.
    return httpx.create_ssl_context()


def request_headers(
    webhook_id: int, event_id: int, secret: str, body: bytes, now: float
) -> dict[str, str]:
    """The headers of one attempt, signed at ``now`` (each attempt signs anew)."""
    timestamp = int(now)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "onebin-event-id": str(event_id),
        "onebin-webhook-id": str(webhook_id),
        "onebin-timestamp": str(timestamp),
        "onebin-signature": signature(secret, timestamp, body),
    }


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    timeout: float = REQUEST_TIMEOUT,
) -> None:
    """POST ``body``; returns on a 2xx answer, raises ``DeliveryFailed`` otherwise.

    ``timeout`` bounds the whole exchange, ``connect_timeout`` its connection.
    """
    quiet = _delivering.set(True)
    try:
        status = await _exchange(url, body, headers, connect_timeout, timeout)
    finally:
        _delivering.reset(quiet)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status} from {redacted(url)}")


async def _exchange(
    url: str, body: bytes, headers: dict[str, str], connect_timeout: float, timeout: float
) -> int:
    """The answer's status; ``DeliveryFailed`` when there is none in time."""
    shown = redacted(url)
    phases = httpx.Timeout(timeout, connect=connect_timeout)
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=phases, verify=_tls(), follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            return response.status_code  # the body is never read: only the status counts
    except httpx.ConnectTimeout:
        raise DeliveryFailed(f"timed out connecting to {shown}") from None
    except (TimeoutError, httpx.TimeoutException):
        raise DeliveryFailed(f"no answer within {timeout:g}s from {shown}") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise DeliveryFailed(f"could not reach {shown}: {reason}") from None


def delivering(db: Database, store: WebhookStore) -> JobSet:
    """The handler of ``onebin.webhook`` jobs, reading from ``db``."""

    async def deliver(job: Job) -> None:
        webhook_id, event_id = int(job.payload["webhook"]), int(job.payload["event"])
        target, event = await db.lookup(
            lambda conn: (store.target(conn, webhook_id), store.event(conn, event_id))
        )
        if target is None:
            return  # removed since the event: nobody to tell any more
        webhook, secret = target
        if event is None:
            logger.warning(
                "webhook %d: event %d was pruned from the log before it could be "
                "delivered; skipped",
                webhook_id,
                event_id,
            )
            return
        body = msgspec.json.encode(event)
        await post(
            webhook.url, body, request_headers(webhook_id, event_id, secret, body, time.time())
        )

    return JobSet({DELIVER: deliver})


def webhook_jobs(context: Context) -> JobSet:
    """``LIBRARY_JOBS``'s entry: deliveries from the process's database."""
    db = cast(Engine, context.db)  # the Context's Database is always an Engine
    return delivering(db, WebhookStore(db))
