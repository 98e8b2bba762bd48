"""The process's log: one handler on stderr, lines that cannot flood it, request ids.

``configure`` sets up every logger of the process once, uvicorn's included, before
a worker forks (the workers inherit it). Two formats, chosen by ``--log-format``:

- ``text``: ``2026-11-26T22:15:00.123Z INFO onebin.access: message request_id=...``;
  a traceback follows on the next lines, as people expect to read it;
- ``json``: one object per line with the stable keys ``time``, ``level``,
  ``logger`` and ``message``, plus ``request_id`` for a line written while a
  request was handled, the access fields (``client``, ``method``, ``path``,
  ``status``, ``bytes``, ``duration_ms``) on an access line, and ``exception``
  (the traceback as one string) when there is one: a log shipper never has to
  join lines.

``request_id`` is a context variable that the access wrapper
(``onebin.server.access``) sets in each request's task; every record created
while it is set carries it, whichever logger wrote it (a database fault, an app's
own line).

With the disk full, every write failed and each failure logged a 1.8 KB traceback:
8.5 MB of log in six seconds, hiding everything else. A fault that repeats is one
line, then one line per ``window`` saying how many more there were. The same rule
applies to the warnings uvicorn writes for malformed requests (``quiet_repeats``),
which any client can send as fast as it likes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from onebin.config import Settings

MAX_KINDS = 1000


class Repeats:
    """Per kind: whether to log now, and how many were held back since the last line."""

    def __init__(self, *, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._kinds: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def admit(self, kind: str) -> tuple[bool, str]:
        """(log it?, the suffix that counts the repeats held back since the last line)."""
        now = self.clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self.window:
            self._kinds[kind] = (last[0], last[1] + 1)
            return False, ""
        suffix = ""
        if last is not None and last[1]:
            suffix = f" (and {last[1]} more like it in the last {now - last[0]:.0f}s)"
        self._kinds[kind] = (now, 0)
        self._kinds.move_to_end(kind)
        while len(self._kinds) > MAX_KINDS:
            self._kinds.popitem(last=False)
        return True, suffix


class RepeatLimiter:
    """Logs the first message of each ``kind`` per ``window`` seconds and counts the rest."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self._repeats = Repeats(window=window, clock=clock)

    def log(self, level: int, kind: str, message: str, *, exc_info: bool = False) -> bool:
        """Log ``message`` unless ``kind`` was logged within the window; True if logged."""
        admitted, suffix = self._repeats.admit(kind)
        if admitted:
            self.logger.log(level, message + suffix, exc_info=exc_info)
        return admitted


class QuietRepeats(logging.Filter):
    """A filter for another library's logger: each message text at most once per window."""

    def __init__(self, *, window: float = 60.0) -> None:
        super().__init__()
        self._repeats = Repeats(window=window)

    def filter(self, record: logging.LogRecord) -> bool:
        admitted, suffix = self._repeats.admit(str(record.msg))
        if admitted and suffix:
            record.msg = f"{record.msg}{suffix}"
        return admitted


def quiet_repeats(logger_name: str, *, window: float = 60.0) -> None:
    """Install ``QuietRepeats`` on a logger, once."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QuietRepeats) for f in logger.filters):
        logger.addFilter(QuietRepeats(window=window))


# The id of the request being handled, set in each request's own task: never set
# where callbacks of many connections run, or it would leak from one to the others.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_second: tuple[int, str] = (-1, "")


def utc_time(created: float) -> str:
    """ISO 8601 in UTC to the nearest millisecond (``2026-11-26T22:15:00.123Z``). The
    date and time part is made once per second: under load, many lines share it."""
    global _second
    seconds, millis = divmod(round(created * 1000), 1000)
    cached, text = _second
    if seconds != cached:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, text)
    return f"{text}.{millis:03d}Z"


class LineFormatter(logging.Formatter):
    """A formatter that can also make a line without a ``LogRecord``: the access log
    writes one per request, and a record costs more than the line (``direct``)."""

    # Whether ``line`` shows structured fields: if not, they need not be made.
    structured: bool

    def format(self, record: logging.LogRecord) -> str:
        trace = ""
        if record.exc_info or record.exc_text or record.stack_info:
            trace = _trace(self, record)
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "request_id", None),
            getattr(record, "fields", None),
            trace,
        )

    def line(
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        rid: str | None = None,
        fields: Mapping[str, Any] | None = None,
        trace: str = "",
    ) -> str:
        """The line of one message; ``fields`` are the structured ones (an access
        line's), ``trace`` a traceback."""
        raise NotImplementedError


class TextFormatter(LineFormatter):
    """``TIME LEVEL LOGGER: MESSAGE [request_id=ID]``, a traceback on the lines after.
    Structured fields are left out: the message says them for people."""

    structured = False

    def line(
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        rid: str | None = None,
        fields: Mapping[str, Any] | None = None,
        trace: str = "",
    ) -> str:
        text = f"{utc_time(created)} {level} {name}: {message}"
        if rid is not None:
            text += f" request_id={rid}"
        return f"{text}\n{trace}" if trace else text


class JsonFormatter(LineFormatter):
    """One JSON object per line, whatever the message or traceback holds: the stable
    keys, then ``request_id``, the structured fields and ``exception`` when there."""

    structured = True

    def __init__(self) -> None:
        super().__init__()
        self._encode = msgspec.json.Encoder().encode

    def line(
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        rid: str | None = None,
        fields: Mapping[str, Any] | None = None,
        trace: str = "",
    ) -> str:
        line: dict[str, Any] = {
            "time": utc_time(created),
            "level": level,
            "logger": name,
            "message": message,
        }
        if rid is not None:
            line["request_id"] = rid
        if fields:
            line.update(fields)
        if trace:
            line["exception"] = trace
        return self._encode(line).decode()


def _trace(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The record's traceback and stack, as text."""
    parts = []
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return "\n".join(parts)


class StderrHandler(logging.Handler):
    """Writes each line to whatever ``sys.stderr`` is then, not when the handler was
    made: a test or an embedding program may swap it meanwhile.

    A line is written at once (stderr is line-buffered: that write is the flush),
    except the access log's (``write_soon``): those of one turn of the event loop
    are made and written together at its end, one system call for all the requests
    that ended in it, and the code that makes them run back to back, which costs a
    third of running it between requests. Any other line writes the held ones
    first, so the order stays. The price: a process killed while its event loop is
    stuck loses the access lines of that one turn.
    """

    def __init__(self) -> None:
        super().__init__()
        self._held: list[tuple[Callable[..., str], tuple[Any, ...]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write(self, line: str) -> None:
        """Write ``line`` now, after any held back. Call with ``lock`` held."""
        if self._held:
            line = f"{self._take_held()}\n{line}"
        stream = sys.stderr
        stream.write(line + "\n")
        if not getattr(stream, "line_buffering", True):
            stream.flush()

    def write_soon(self, make: Callable[..., str], *args: Any) -> None:
        """Write the line ``make(*args)`` returns when this turn of the running event
        loop ends (at once without one). Call with ``lock`` held."""
        if not self._held:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self.write(make(*args))
                return
        self._held.append((make, args))

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._held:
                lines = self._take_held()
                # stderr is gone (closed, a full disk): there is nowhere to say so.
                with contextlib.suppress(OSError, ValueError):
                    self.write(lines)

    def _take_held(self) -> str:
        held, self._held = self._held, []
        return "\n".join([make(*args) for make, args in held])


def direct(logger: logging.Logger) -> tuple[StderrHandler, LineFormatter] | None:
    """Where a line of ``logger`` may be written without a ``LogRecord``: its one
    handler, if it is onebin's with one of its formatters and nothing filters or
    copies the records on the way (``configure`` sets the access logger so).

    In a server at work a record and its way through ``logging`` cost three times
    the line itself; the access log writes one per request. Once anything else
    listens (a handler added, a filter), records are made again.
    """
    handlers = logger.handlers
    if len(handlers) != 1 or logger.filters or logger.propagate:
        return None
    handler = handlers[0]
    formatter = handler.formatter
    if type(handler) is not StderrHandler or handler.filters:
        return None
    return (handler, formatter) if isinstance(formatter, LineFormatter) else None


class WithRequestId:
    """A record factory around another: every record gets ``request_id``, the id of
    the request being handled where it was made (None outside any)."""

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self.factory = factory

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.factory(*args, **kwargs)
        record.request_id = request_id.get()
        return record


ACCESS_LOGGER = "onebin.access"


def configure(settings: Settings) -> None:
    """Set up the logging of the whole process: one handler on stderr in the chosen
    format, at ``--log-level``; the access log on or off by ``--access-log`` alone.

    The access log does not follow ``--log-level``: ``--log-level warning`` quiets
    what the server says about itself, not the record of the requests it answered.
    Calling this again replaces what an earlier call set up.
    """
    root = logging.getLogger()
    access = logging.getLogger(ACCESS_LOGGER)
    for logger in (root, access):
        for handler in logger.handlers[:]:
            if isinstance(handler, StderrHandler):
                logger.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn's loggers hand their records to the root's handler (the worker passes
    # ``log_config=None``, so uvicorn installs no handler of its own).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).propagate = True
    # The access log has the same handler, its own: its lines are written directly
    # (``direct``), and a handler added to the root for errors (an error tracker)
    # does not get a line per request.
    access.addHandler(handler)
    access.propagate = False
    access.setLevel(logging.INFO if settings.access_log else logging.CRITICAL + 1)
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, WithRequestId):
        logging.setLogRecordFactory(WithRequestId(factory))
    logging.captureWarnings(True)  # Python's warnings in the same format, not raw lines
    # What no format shows is not worked out for every record: thread and process names.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
