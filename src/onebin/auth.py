"""Who may write: bearer tokens, with failed attempts rate-limited per client.

Tokens are long random secrets, so guessing is hopeless anyway; the limit is there
so a misbehaving client cannot turn the token check into a cheap way to load the
server, and so an operator sees a clear 429 instead of a stream of 401s. Only
failures are limited: a valid token is always accepted, so a neighbour behind the
same NAT address who keeps sending a bad token cannot lock the real writers out.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from starlette.requests import Request

from onebin import metrics
from onebin.http import ApiError, bearer_token
from onebin.limiter import FailureLimiter, client_key
from onebin.store.tokens import TokenRecord, TokenStore


class Authenticator:
    """Checks a request's bearer token; raises a JSON 401 or 429 ``ApiError``."""

    def __init__(
        self,
        tokens: TokenStore,
        limiter: FailureLimiter,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.tokens = tokens
        self.limiter = limiter
        # The limiter's clock unless a test pins one: its sharers must agree on it.
        self.clock = limiter.clock if clock is None else clock

    async def require_admin(self, request: Request) -> TokenRecord:
        """The request's valid admin token, or a JSON 401/429 as ``require_token``, or a
        403 for a valid token without admin rights (the client then knows the token
        works but is the wrong kind; it is not a failed guess, so it is not limited)."""
        record = await self._verified(request, "an admin token")
        if not record.admin:
            raise ApiError(
                403,
                "admin_required",
                "this token is not an admin token: create one with "
                "'token create --admin' on the server",
            )
        return record

    async def require_token(self, request: Request) -> TokenRecord:
        return await self._verified(request, "a valid write token")

    async def _verified(self, request: Request, needed: str) -> TokenRecord:
        """The request's live token of any kind; ``needed`` names the kind in the 401."""
        token = bearer_token(request)
        if token is None:  # no guess at all: nothing to limit
            raise _unauthorized(f"{needed} is required: Authorization: Bearer <token>")
        record = await self.tokens.verify(token)
        if record is not None:
            return record
        key = client_key(request.client.host if request.client else "")
        now = self.clock()
        wait = await self.limiter.retry_after(key, now)
        if wait is not None:
            metrics.recorder().refused("rate_limit")
            raise ApiError(
                429,
                "too_many_failed_attempts",
                "too many requests with a bad token from this address; try again later",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )
        await self.limiter.record_failure(key, now)
        raise _unauthorized(
            "this token is unknown or revoked: create one with the 'token create' "
            "command on the server"
        )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"www-authenticate": 'Bearer realm="onebin"'})
