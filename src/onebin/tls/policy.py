"""Pure decisions of certificate maintenance: when to renew, how long to wait after a failure.

No clock, no randomness and no I/O here: callers pass ``now`` and a random number,
so every rule is a plain function with unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Let's Encrypt's advice for clients without ARI: renew with a third of the lifetime left.
RENEW_AT_FRACTION = 2 / 3


@dataclass(frozen=True)
class Backoff:
    """Retry schedule after a failed order: ``base * 2**failures``, capped, with jitter.

    Starts at a minute so a misconfigured server stays well inside Let's Encrypt's
    limit of five failed validations per hostname and hour.
    """

    base: float = 60.0
    cap: float = 6 * 3600.0

    def delay(self, failures: int, jitter: float) -> float:
        """Seconds to wait after ``failures`` consecutive failures (at least 1).

        ``jitter`` in [0, 1) spreads the delay over its upper half so that several
        servers that failed together do not retry together.
        """
        exponent = min(max(failures - 1, 0), 62)
        ceiling = min(self.cap, self.base * 2**exponent)
        return ceiling / 2 + ceiling / 2 * jitter


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
