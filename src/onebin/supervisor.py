"""Worker processes: fork N copies of the server onto the same listening sockets.

One Python process uses one core; on a machine with more, ``--workers N`` runs N
forked copies that accept from the same sockets (the kernel spreads connections).
The parent only supervises: it turns SIGTERM/SIGINT into SIGTERM for every worker,
waits for their graceful shutdown, and restarts a worker that dies unexpectedly,
which is the job a separate process manager would otherwise do. Workers ignore
SIGINT so that Ctrl-C in a terminal (sent to the whole process group) reaches them
once, through the parent, rather than twice.

Forking is safe here because the parent opens no database connection and starts
no thread or event loop before it forks; each worker opens its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("onebin")

EXIT_CANNOT_START = 2
RESTART_BACKOFF_CAP = 30.0
# A worker that ran this long before dying counts as a fresh failure, not a crash loop.
HEALTHY_RUN_SECONDS = 60.0


@dataclass
class Supervisor:
    """Runs ``worker`` in ``count`` forked processes until told to stop.

    ``worker(number)`` returns its exit status: 0 after a graceful stop. One that
    returns ``EXIT_CANNOT_START`` (a database it cannot open, a certificate it cannot
    load) stops everything with status 1: restarting would not help. Any other death
    is restarted, with a capped exponential delay against crash loops.
    """

    count: int
    worker: Callable[[int], int]
    children: dict[int, tuple[int, float]] = field(default_factory=dict)  # pid -> number, start
    stopping: bool = False
    exit_code: int = 0
    failures: int = 0

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        for number in range(1, self.count + 1):
            self._spawn(number)
        while self.children:
            pid, status = os.wait()
            if pid not in self.children:
                continue
            number, started = self.children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                # -SIGTERM: stopped before its own handler was installed; still clean.
                clean = code in (0, -signal.SIGTERM)
                self.exit_code = self.exit_code or (0 if clean else 1)
            elif code == EXIT_CANNOT_START:
                logger.error("worker %d cannot start; stopping", number)
                self.exit_code = 1
                self._stop(signal.SIGTERM, None)
            else:
                if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                    self.failures = 0
                self.failures += 1
                delay = min(2.0 ** (self.failures - 1), RESTART_BACKOFF_CAP)
                logger.error("worker %d exited with %d; restarting in %.0fs", number, code, delay)
                time.sleep(delay)
                if not self.stopping:
                    self._spawn(number)
        return self.exit_code

    def _spawn(self, number: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                code = self.worker(number)
            except BaseException:
                logger.exception("worker %d failed", number)
            finally:
                os._exit(code)
        self.children[pid] = (number, time.monotonic())

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # gone already; os.wait reports it
                os.kill(pid, signal.SIGTERM)
