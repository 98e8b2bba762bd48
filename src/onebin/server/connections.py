"""Open connections of one process: caps in total and per client, and their deadlines.

Without a proxy in front, onebin itself must stop one client from taking every
connection: a global cap alone let one address with 1,030 idle sockets lock out
everybody else. So every connection is admitted here against the process's cap and
its client's (an IPv4 address, or an IPv6 /64; trusted proxies carry many clients
and are exempt from the per-client cap). A connection counts from the moment it is
accepted, TLS handshake included.

Deadlines (request head, then body) are stored on each connection as a number and
checked by one sweep every ``SWEEP_SECONDS``, which is cheaper on the hot path than
a timer per request and exact enough for timeouts measured in seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from onebin.limiter import client_key
from onebin.logs import RepeatLimiter

logger = logging.getLogger("onebin")
SWEEP_SECONDS = 0.25


class Refused(Exception):
    """A new connection is over a cap; ``code`` and ``message`` go into the 503."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Expiring(Protocol):
    """What the sweep needs of a connection."""

    deadline: float | None

    def expire(self) -> None: ...


@dataclass(frozen=True)
class ConnectionLimits:
    total: int
    per_client: int


class ConnectionRegistry:
    """Admits and releases connections; shared by every listener of the process."""

    def __init__(self, limits: ConnectionLimits, *, exempt: Callable[[str], bool]) -> None:
        self.limits = limits
        self.exempt = exempt
        self.admitted = 0
        self.live: set[Expiring] = set()
        self._per_client: dict[str, int] = {}
        self._log = RepeatLimiter(logger, window=60.0)

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address`` in; the key to release it with.

        Raises ``Refused`` when the process or the client is at its cap.
        """
        if self.admitted >= self.limits.total:
            self._log.log(
                logging.WARNING,
                "total",
                f"connection cap reached: {self.admitted} open; new connections get 503 "
                "(--max-connections, or the open-files limit)",
            )
            raise Refused("too_many_connections", "the server is at its connection limit")
        key = None if self.exempt(address) else client_key(address)
        if key is not None:
            count = self._per_client.get(key, 0)
            if count >= self.limits.per_client:
                self._log.log(
                    logging.WARNING,
                    f"client {key}",
                    f"client {key} reached its cap of {count} open connections; "
                    "its new connections get 503 (--max-client-connections)",
                )
                raise Refused(
                    "too_many_client_connections", "too many open connections from your address"
                )
            self._per_client[key] = count + 1
        self.admitted += 1
        return key

    def release(self, key: str | None) -> None:
        self.admitted -= 1
        if key is None:
            return
        count = self._per_client.get(key, 0) - 1
        if count > 0:
            self._per_client[key] = count
        else:
            self._per_client.pop(key, None)

    def sweep(self, now: float) -> None:
        for connection in [c for c in self.live if c.deadline is not None and c.deadline <= now]:
            connection.expire()

    async def sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.sweep(loop.time())
