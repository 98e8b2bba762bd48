"""Pure decisions of certificate maintenance: when to renew, how long to wait after a failure.

No clock, no randomness and no I/O here: callers pass ``now`` and a random number,
so every rule is a plain function with unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Let's Encrypt's advice for clients without ARI: renew with a third of the lifetime left.
RENEW_AT_FRACTION = 2 / 3


@dataclass(frozen=True)
class RetrySchedule:
    """When to order again after failed orders: a jittered doubling backoff under a hard limit.

    Let's Encrypt allows 5 failed validations per account, hostname and hour; a 6th
    is refused and counts against the account. The backoff alone (a minute, doubling)
    would start the 6th order 15-31 minutes after the first failure, so a second rule
    caps it: never more than ``limit`` failed orders in any ``window``. Every failed
    order counts, whatever failed (an unreachable CA or a rate limit included), which
    overcounts the CA's validation failures and so errs on the safe side.

    The rule holds across restarts only if the failure times survive them: callers
    persist ``keep(...)``'s list and read it back before their first order.
    """

    base: float = 60.0
    cap: float = 6 * 3600.0
    limit: int = 5
    window: timedelta = timedelta(hours=1)

    def delay(self, failures: int, jitter: float) -> float:
        """Seconds of backoff after ``failures`` consecutive failures (at least 1).

        ``jitter`` in [0, 1) spreads the delay over its upper half so that several
        servers that failed together do not retry together.
        """
        exponent = min(max(failures - 1, 0), 62)
        ceiling = min(self.cap, self.base * 2**exponent)
        return ceiling / 2 + ceiling / 2 * jitter

    def earliest_order(self, failed_at: Sequence[datetime]) -> datetime | None:
        """The first moment an order keeps within the limit, or None if any moment does.

        With ``limit`` failures on record, the next order may start only once the
        oldest of the last ``limit`` has left the window: then, should it fail too,
        no window holds more than ``limit`` failures.
        """
        recent = sorted(failed_at)[-self.limit :]
        if len(recent) < self.limit:
            return None
        return recent[0] + self.window

    def next_attempt(
        self, failed_at: Sequence[datetime], consecutive: int, jitter: float
    ) -> datetime:
        """When to order again after the latest of ``failed_at`` (not empty).

        The later of the backoff after ``consecutive`` failures and ``earliest_order``;
        a wait set by the limit is spread over a further ``base`` seconds with the
        same ``jitter``.
        """
        latest = max(failed_at)
        backoff = latest + timedelta(seconds=self.delay(consecutive, jitter))
        limited = self.earliest_order(failed_at)
        if limited is None:
            return backoff
        return max(backoff, limited + timedelta(seconds=self.base * jitter))

    def keep(self, failed_at: Sequence[datetime], now: datetime) -> list[datetime]:
        """The failure times worth storing: those that can still limit an order, oldest first."""
        return sorted(moment for moment in failed_at if moment > now - self.window)[-self.limit :]


def renewal_time(
    not_before: datetime, not_after: datetime, suggested: datetime | None = None
) -> datetime:
    """When a certificate should be renewed.

    The CA's suggestion (ACME Renewal Information, RFC 9773) wins when there is one,
    but never later than expiry; otherwise renew when the last third of the lifetime
    begins.
    """
    if suggested is not None:
        return min(suggested, not_after)
    return not_before + (not_after - not_before) * RENEW_AT_FRACTION


def is_servable(not_before: datetime, not_after: datetime, now: datetime) -> bool:
    """A certificate is worth serving while clients would accept it."""
    return not_before <= now < not_after


def seconds_until(moment: datetime, now: datetime, *, at_most: float) -> float:
    """A sleep that wakes at ``moment`` but never sleeps longer than ``at_most``."""
    return max(0.0, min((moment - now) / timedelta(seconds=1), at_most))
