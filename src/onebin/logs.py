"""Log lines that cannot flood the log: the first of a kind now, repeats as a count.

With the disk full, every write failed and each failure logged a 1.8 KB traceback:
8.5 MB of log in six seconds, hiding everything else. A fault that repeats is one
line, then one line per ``window`` saying how many more there were.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KINDS = 1000


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
        self.window = window
        self.clock = clock
        self._kinds: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def log(self, level: int, kind: str, message: str, *, exc_info: bool = False) -> bool:
        """Log ``message`` unless ``kind`` was logged within the window; True if logged."""
        now = self.clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self.window:
            self._kinds[kind] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            message += f" (and {last[1]} more like it in the last {now - last[0]:.0f}s)"
        self._kinds[kind] = (now, 0)
        self._kinds.move_to_end(kind)
        while len(self._kinds) > MAX_KINDS:
            self._kinds.popitem(last=False)
        self.logger.log(level, message, exc_info=exc_info)
        return True
