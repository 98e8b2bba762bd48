from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onebin.tls.policy import Backoff, is_servable, renewal_time, seconds_until

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = ISSUED + timedelta(days=90)


def test_renewal_time_without_ari_is_start_of_last_third():
    assert renewal_time(ISSUED, EXPIRES) == ISSUED + timedelta(days=60)


def test_renewal_time_follows_ari_suggestion():
    suggested = ISSUED + timedelta(days=30)
    assert renewal_time(ISSUED, EXPIRES, suggested) == suggested


def test_renewal_time_ari_suggestion_never_after_expiry():
    assert renewal_time(ISSUED, EXPIRES, EXPIRES + timedelta(days=5)) == EXPIRES


def test_renewal_time_short_lived_certificate_scales():
    assert renewal_time(ISSUED, ISSUED + timedelta(hours=6)) == ISSUED + timedelta(hours=4)


@pytest.mark.parametrize(
    ("now", "servable"),
    [
        (ISSUED - timedelta(seconds=1), False),
        (ISSUED, True),
        (EXPIRES - timedelta(seconds=1), True),
        (EXPIRES, False),
    ],
)
def test_is_servable_only_inside_validity(now, servable):
    assert is_servable(ISSUED, EXPIRES, now) is servable


def test_backoff_doubles_from_base():
    backoff = Backoff(base=60, cap=10_000)
    assert [backoff.delay(n, jitter=1.0) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]


def test_backoff_is_capped():
    backoff = Backoff(base=60, cap=3600)
    assert backoff.delay(50, jitter=1.0) == 3600
    assert backoff.delay(10_000, jitter=1.0) == 3600


def test_backoff_jitter_spreads_over_upper_half():
    backoff = Backoff(base=100, cap=10_000)
    assert backoff.delay(1, jitter=0.0) == 50
    assert backoff.delay(1, jitter=0.5) == 75


def test_seconds_until_is_bounded_and_never_negative():
    now = ISSUED
    assert seconds_until(now + timedelta(seconds=30), now, at_most=3600) == 30
    assert seconds_until(now + timedelta(days=30), now, at_most=3600) == 3600
    assert seconds_until(now - timedelta(seconds=30), now, at_most=3600) == 0
