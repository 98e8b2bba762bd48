"""Where a stream starts, and what it sends, as pure decisions."""

from __future__ import annotations

import pytest

from onebin.events import Event
from onebin.events.stream import message, parse_last_event_id, resume_point
from onebin.http import ApiError


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("0", 0), ("42", 42), (" 7 ", 7)]
)
def test_last_event_id_is_a_plain_count(value, expected):
    assert parse_last_event_id(value) == expected


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "٣", str(2**63), "9" * 5000, "1 2"])
def test_a_malformed_last_event_id_is_a_400(value):
    """5,000 digits made int() raise its own error: a 500 with a traceback."""
    with pytest.raises(ApiError) as raised:
        parse_last_event_id(value)
    assert raised.value.status == 400


def test_a_stream_without_an_id_starts_now():
    assert resume_point(None, 5, 90) == (90, False)
    assert resume_point(None, None, None) == (0, False)


def test_a_stream_resumes_after_a_kept_id():
    assert resume_point(40, 5, 90) == (40, False)
    assert resume_point(4, 5, 90) == (4, False)  # the next one, 5, is still kept
    assert resume_point(90, 5, 90) == (90, False)


def test_a_stream_resets_when_events_after_its_id_were_pruned_or_it_is_not_ours():
    assert resume_point(3, 5, 90) == (90, True)  # 4 was deleted
    assert resume_point(91, 5, 90) == (90, True)  # a newer id: another (restored) log
    assert resume_point(1, None, None) == (0, True)


def test_a_message_is_one_id_line_and_one_data_line():
    event = Event(id=7, type="item.updated", time="2026-11-26T19:00:00.000Z", data={"x": "a\nb"})
    assert message(event) == (
        b'id: 7\ndata: {"id":7,"type":"item.updated","time":"2026-11-26T19:00:00.000Z",'
        b'"data":{"x":"a\\nb"}}\n\n'
    )
