"""Log lines that cannot flood the log: the first of a kind now, repeats as a count.

With the disk full, every write failed and each failure logged a 1.8 KB traceback:
8.5 MB of log in six seconds, hiding everything else. A fault that repeats is one
line, then one line per ``window`` saying how many more there were. The same rule
applies to the warnings uvicorn writes for malformed requests (``quiet_repeats``),
which any client can send as fast as it likes.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

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
