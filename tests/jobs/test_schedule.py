"""The retry schedule and periodic slots: pure functions, no clock, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebin.errors import AppError
from onebin.jobs.schedule import RETRY_CAP, Periodic, check_kind, retry_delay


def test_retry_delay_doubles_from_the_base_with_no_jitter():
    assert [retry_delay(n, base=2.0, jitter=0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_retry_delay_with_full_jitter_draw_reaches_the_ceiling():
    assert retry_delay(3, base=2.0, jitter=0.999999) == pytest.approx(8.0, rel=1e-5)


def test_retry_delay_is_capped_even_for_huge_attempt_numbers():
    assert retry_delay(10_000, base=2.0, jitter=0.0) == RETRY_CAP / 2
    assert retry_delay(40, base=2.0, jitter=0.5, cap=60.0) == 45.0


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0.001, 1000),
    jitter=st.floats(0, 1, exclude_max=True),
)
def test_retry_delay_stays_between_half_the_ceiling_and_the_ceiling(attempt, base, jitter):
    ceiling = min(RETRY_CAP, base * 2.0 ** min(attempt - 1, 60))
    delay = retry_delay(attempt, base=base, jitter=jitter)
    assert ceiling / 2 <= delay <= ceiling


def test_retry_delay_refuses_attempt_zero():
    with pytest.raises(ValueError, match="count from 1"):
        retry_delay(0, base=1.0, jitter=0.0)


def test_periodic_every_slots_are_the_multiples_strictly_after_now():
    every = Periodic("tick", every=60)
    assert every.next_slot(119.5) == 120.0
    assert every.next_slot(120.0) == 180.0
    assert every.key(120.0) == "periodic:tick:120"


def test_periodic_cron_slots_follow_the_expression_in_utc():
    cron = Periodic("report", cron="*/5 * * * *")
    start = datetime(2024, 1, 1, 0, 3, tzinfo=UTC).timestamp()
    slot = cron.next_slot(start)
    assert datetime.fromtimestamp(slot, UTC) == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert cron.next_slot(slot) == slot + 300


@given(now=st.floats(0, 4e9), every=st.integers(1, 86400))
def test_every_process_computes_the_same_next_slot(now, every):
    periodic = Periodic("tick", every=every)
    slot = periodic.next_slot(now)
    assert now < slot <= now + every
    assert periodic.next_slot(slot - every / 2) == slot


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one"),
        ({"every": 5, "cron": "* * * * *"}, "exactly one"),
        ({"every": 0}, "at least 1 second"),
        ({"every": float("nan")}, "at least 1 second"),
        ({"cron": "every minute"}, "cron 'every minute'"),
    ],
)
def test_periodic_refuses_bad_schedules(options, message):
    with pytest.raises(AppError, match=message):
        Periodic("tick", **options)


@pytest.mark.parametrize("kind", ["", "has space", "-leading", "x" * 101, 5])
def test_check_kind_refuses_bad_names(kind):
    with pytest.raises(AppError, match="job kind"):
        check_kind(kind)
