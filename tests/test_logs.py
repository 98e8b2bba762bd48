from __future__ import annotations

import logging

from onebin.logs import QuietRepeats, RepeatLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_failure_is_one_line_then_a_count(caplog):
    clock = Clock()
    limiter = RepeatLimiter(logging.getLogger("test.repeats"), window=10, clock=clock)
    with caplog.at_level(logging.ERROR, logger="test.repeats"):
        assert limiter.log(logging.ERROR, "full", "disk full")
        for _ in range(37):
            clock.now += 0.1
            assert not limiter.log(logging.ERROR, "full", "disk full")
        assert limiter.log(logging.ERROR, "other", "another kind is logged at once")
        clock.now = 11
        assert limiter.log(logging.ERROR, "full", "disk full")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "disk full",
        "another kind is logged at once",
        "disk full (and 37 more like it in the last 11s)",
    ]


def test_a_library_logger_repeats_once_per_window(caplog):
    logger = logging.getLogger("test.library")
    logger.addFilter(QuietRepeats(window=60))
    with caplog.at_level(logging.WARNING, logger="test.library"):
        for _ in range(33):
            logger.warning("Invalid HTTP request received.")
    assert [r.getMessage() for r in caplog.records] == ["Invalid HTTP request received."]
