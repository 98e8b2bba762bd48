from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from onebin.config import Settings
from onebin.logs import (
    ACCESS_LOGGER,
    JsonFormatter,
    QuietRepeats,
    RepeatLimiter,
    StderrHandler,
    TextFormatter,
    configure,
    request_id,
    utc_time,
)


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


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever ``configure`` changes in the process's logging, put back after."""
    root, access = logging.getLogger(), logging.getLogger(ACCESS_LOGGER)
    saved = [
        (logger, logger.handlers[:], logger.level, logger.propagate) for logger in (root, access)
    ]
    factory = logging.getLogRecordFactory()
    flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    logging.setLogRecordFactory(factory)
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = flags
    logging.captureWarnings(False)


def record(message: str, *, exc_info: bool = False, **attributes: object) -> logging.LogRecord:
    made = logging.LogRecord("onebin.test", logging.ERROR, "", 0, message, None, None)
    if exc_info:
        try:
            raise RuntimeError("the cause")
        except RuntimeError:
            made.exc_info = sys.exc_info()
    made.__dict__.update(attributes)
    return made


def test_times_are_utc_with_milliseconds():
    assert utc_time(0.5) == "1970-01-01T00:00:00.500Z"
    assert utc_time(1795731300.123456) == "2026-11-26T22:15:00.123Z"
    assert utc_time(1795731300.999) == "2026-11-26T22:15:00.999Z"  # cached second, new ms
    assert utc_time(1795731300.9996) == "2026-11-26T22:15:01.000Z"  # the nearest ms


def test_a_text_line_starts_with_time_level_and_logger():
    made = record("disk full", request_id="req-1", created=1795731300.123)
    line = TextFormatter().format(made)
    assert line == "2026-11-26T22:15:00.123Z ERROR onebin.test: disk full request_id=req-1"
    plain = TextFormatter().format(record("no request", created=1795731300.5))
    assert plain == "2026-11-26T22:15:00.500Z ERROR onebin.test: no request"


def test_a_json_line_is_one_object_even_with_a_traceback():
    made = record("two\nlines", exc_info=True, request_id="req-2", created=1795731300.123)
    made.fields = {"status": 200}
    line = JsonFormatter().format(made)
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed) == [
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "status",
        "exception",
    ]
    assert parsed["time"] == "2026-11-26T22:15:00.123Z"
    assert (parsed["level"], parsed["logger"], parsed["message"]) == (
        "ERROR",
        "onebin.test",
        "two\nlines",
    )
    assert parsed["exception"].startswith("Traceback (most recent call last):")
    assert parsed["exception"].endswith("RuntimeError: the cause")


def test_configure_sets_up_one_handler_and_the_access_log_switch(restored_logging, capsys):
    configure(Settings(log_format="json", log_level="warning"))
    configure(Settings(log_format="json", log_level="warning"))  # again: replaces, not adds
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, StderrHandler)]
    assert len(handlers) == 1
    logging.getLogger("onebin.test").info("below --log-level")
    logging.getLogger(ACCESS_LOGGER).info("an access line")  # not governed by --log-level
    token = request_id.set("req-3")
    try:
        logging.getLogger("uvicorn.error").warning("from uvicorn")
    finally:
        request_id.reset(token)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        (ACCESS_LOGGER, "an access line"),
        ("uvicorn.error", "from uvicorn"),
    ]
    assert "request_id" not in lines[0]
    assert lines[1]["request_id"] == "req-3"
    configure(Settings(access_log=False))
    assert not logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.CRITICAL)


class Stream:
    """A stand-in for stderr that keeps each write apart."""

    line_buffering = True

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)


def test_access_lines_of_one_loop_turn_go_out_in_one_write_before_any_later_line(monkeypatch):
    stream = Stream()
    monkeypatch.setattr(sys, "stderr", stream)
    handler = StderrHandler()
    handler.setFormatter(TextFormatter())

    async def serve() -> None:
        with handler.lock:
            handler.write_soon(str, "first access line")
            handler.write_soon(str.upper, "second access line")
        assert stream.writes == []  # held until the turn ends
        await asyncio.sleep(0)
        assert stream.writes == ["first access line\nSECOND ACCESS LINE\n"]
        with handler.lock:
            handler.write_soon(str, "third access line")
        handler.handle(record("an error", created=1795731300.5))
        assert stream.writes[1:] == [
            "third access line\n2026-11-26T22:15:00.500Z ERROR onebin.test: an error\n"
        ]

    asyncio.run(serve())
    with handler.lock:
        handler.write_soon(str, "no loop: at once")
    assert stream.writes[-1] == "no loop: at once\n"
