"""Who may write: bearer tokens, with failed attempts rate-limited per client address.

Tokens are long random secrets, so guessing is hopeless anyway; the limit is there
so a misbehaving client cannot turn the token check into a cheap way to load the
server, and so an operator sees a clear 429 instead of a stream of 401s.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from onebin.http import ApiError, bearer_token
from onebin.store.tokens import TokenRecord, TokenStore


@dataclass(frozen=True)
class FailurePolicy:
    max_failures: int = 10
    window_seconds: float = 60.0
    max_tracked_clients: int = 10_000


class FailureLimiter:
    """Counts failures per key in a sliding window; pure apart from the clock passed in.

    Memory is bounded: beyond ``max_tracked_clients`` keys the least recently seen
    is forgotten, so a spray of addresses cannot grow the table without limit.
    """

    def __init__(self, policy: FailurePolicy) -> None:
        self.policy = policy
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.policy.window_seconds:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        failures = self._recent(key, now)
        if len(failures) < self.policy.max_failures:
            return None
        return failures[0] + self.policy.window_seconds - now

    def record_failure(self, key: str, now: float) -> None:
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > self.policy.max_tracked_clients:
            self._failures.popitem(last=False)


class Authenticator:
    """Checks a request's bearer token; raises a JSON 401 or 429 ``ApiError``."""

    def __init__(
        self,
        tokens: TokenStore,
        policy: FailurePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.limiter = FailureLimiter(policy or FailurePolicy())
        self.clock = clock

    async def require_token(self, request: Request) -> TokenRecord:
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.retry_after(client, self.clock())
        if wait is not None:
            raise ApiError(
                429,
                "too_many_failed_attempts",
                "too many requests with a bad token from this address; try again later",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )
        token = bearer_token(request)
        record = await self.tokens.verify(token) if token else None
        if record is None:
            self.limiter.record_failure(client, self.clock())
            raise ApiError(
                401,
                "unauthorized",
                "a valid write token is required: Authorization: Bearer <token>",
                {"www-authenticate": 'Bearer realm="onebin"'},
            )
        return record
