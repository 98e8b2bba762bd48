from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebin.tls.policy import RetrySchedule, is_servable, renewal_time, seconds_until

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


def test_retry_delay_doubles_from_base():
    schedule = RetrySchedule(base=60, cap=10_000)
    assert [schedule.delay(n, jitter=1.0) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]


def test_retry_delay_is_capped():
    schedule = RetrySchedule(base=60, cap=3600)
    assert schedule.delay(50, jitter=1.0) == 3600
    assert schedule.delay(10_000, jitter=1.0) == 3600


def test_retry_delay_jitter_spreads_over_upper_half():
    schedule = RetrySchedule(base=100, cap=10_000)
    assert schedule.delay(1, jitter=0.0) == 50
    assert schedule.delay(1, jitter=0.5) == 75


def failing_every_attempt(schedule: RetrySchedule, jitters: list[float]) -> list[datetime]:
    """When orders start if each fails at once and the next starts when the schedule says."""
    failed: list[datetime] = []
    now = ISSUED
    for consecutive, jitter in enumerate(jitters, start=1):
        failed.append(now)
        now = schedule.next_attempt(schedule.keep(failed, now), consecutive, jitter)
    return failed


def most_in_any_window(moments: list[datetime], window: timedelta) -> int:
    return max(sum(1 for m in moments if start <= m < start + window) for start in moments)


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_retry_schedule_sixth_failure_is_an_hour_after_the_first(jitter):
    schedule = RetrySchedule()
    failed = failing_every_attempt(schedule, [jitter] * 12)
    # The backoff alone would start the 6th order 15-31 minutes after the first.
    assert failed[4] - failed[0] < timedelta(minutes=16)
    assert failed[5] - failed[0] >= timedelta(hours=1)
    assert most_in_any_window(failed, timedelta(hours=1)) == 5


def test_retry_schedule_keeps_jitter_when_the_limit_decides():
    schedule = RetrySchedule()
    early, late = (
        failing_every_attempt(schedule, [0.0] * 6),
        failing_every_attempt(schedule, [0.99] * 6),
    )
    assert late[5] - early[5] >= timedelta(seconds=50)


def test_retry_schedule_restart_with_stored_history_waits_for_the_window():
    schedule = RetrySchedule()
    # Five failures in ten minutes, then a crash: the new process has only the store.
    stored = [ISSUED + timedelta(minutes=2 * n) for n in range(5)]
    now = ISSUED + timedelta(minutes=11)
    assert schedule.earliest_order(schedule.keep(stored, now)) == ISSUED + timedelta(hours=1)
    # Fewer failures on record, or old ones: no wait beyond the backoff.
    assert schedule.earliest_order(stored[1:]) is None
    later = ISSUED + timedelta(hours=1, minutes=5)
    assert schedule.keep(stored, later) == stored[3:]
    assert schedule.earliest_order(schedule.keep(stored, later)) is None


def test_retry_schedule_keep_stores_only_what_can_still_limit():
    schedule = RetrySchedule()
    moments = [ISSUED + timedelta(minutes=n) for n in range(10)]
    assert schedule.keep(list(reversed(moments)), ISSUED + timedelta(minutes=10)) == moments[5:]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 0.999),
            st.floats(0, 7200),  # how much later than planned the order actually starts
            st.booleans(),  # the process restarted and lost its count of consecutive failures
        ),
        min_size=1,
        max_size=40,
    )
)
def test_retry_schedule_never_allows_a_sixth_failure_in_any_hour(attempts):
    schedule = RetrySchedule()
    stored: list[datetime] = []
    failed: list[datetime] = []
    consecutive = 0
    now = ISSUED
    for jitter, late, restarted in attempts:
        if restarted:
            consecutive = 0
        earliest = schedule.earliest_order(stored)
        if earliest is not None:
            now = max(now, earliest)
        failed.append(now)
        consecutive += 1
        stored = schedule.keep([*stored, now], now)
        now = schedule.next_attempt(stored, consecutive, jitter) + timedelta(seconds=late)
    assert most_in_any_window(failed, timedelta(hours=1)) <= 5


def test_seconds_until_is_bounded_and_never_negative():
    now = ISSUED
    assert seconds_until(now + timedelta(seconds=30), now, at_most=3600) == 30
    assert seconds_until(now + timedelta(days=30), now, at_most=3600) == 3600
    assert seconds_until(now - timedelta(seconds=30), now, at_most=3600) == 0
