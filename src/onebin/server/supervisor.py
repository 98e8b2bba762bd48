"""Worker processes: fork N copies of the server onto the same listening sockets.

One Python process uses one core; on a machine with more, ``--workers N`` runs N
forked copies that accept from the same sockets (the kernel spreads connections).
The parent only supervises, which is the job a separate process manager would
otherwise do:

- SIGTERM/SIGINT become one SIGTERM per worker, then a wait for their graceful
  shutdown (stragglers are killed after the grace period). Workers ignore a second
  SIGTERM, so systemd signalling the whole group drains exactly like a SIGTERM to
  the supervisor alone; they ignore SIGINT so that Ctrl-C reaches them once.
- A worker that dies is replaced within about a second; only a crash loop backs
  off further (``restart_delay``). A SIGTERM during a back-off stops at once.
- A worker whose heartbeat stops (frozen) is killed and replaced. Silence counts
  only while the supervisor itself runs: after a freeze of the whole service
  (Ctrl-Z, ``docker pause``, a suspended VM) every stamp is old, and the workers
  get a full ``worker_timeout`` to stamp again rather than being killed at once.
- While no worker is alive, the supervisor answers new connections itself with a
  503 rather than leaving them in the backlog.
- Workers get SIGTERM if the supervisor dies (even by SIGKILL), instead of serving
  on as orphans that keep the port.

Forking is safe because the parent opens no database connection and starts no
thread or event loop before it forks; each worker opens its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from onebin.server.heartbeat import Heartbeats
from onebin.server.standin import StandIn

logger = logging.getLogger("onebin")

EXIT_CANNOT_START = 2
# A worker that dies sooner than this after its start is part of a crash loop.
QUICK_DEATH_SECONDS = 10.0
FIRST_RESTART_DELAY = 0.5
MOST_RESTART_DELAY = 10.0
TICK = 0.25
# A gap this long between two of the supervisor's own ticks means it was not running
# (stopped or frozen with its workers), so it cannot tell how long they were silent.
SELF_STALL = 1.0
# Beyond the graceful timeout, how long to wait before killing a worker that has
# not exited.
STOP_MARGIN = 5.0
PR_SET_PDEATHSIG = 1
HANDLED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGCHLD})


def restart_delay(quick_deaths: int) -> float:
    """Seconds before restarting after the ``quick_deaths``-th crash in a row. Pure."""
    exponent = min(max(quick_deaths - 1, 0), 16)
    return min(FIRST_RESTART_DELAY * 2**exponent, MOST_RESTART_DELAY)


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


@dataclass
class Supervisor:
    """Runs ``worker`` in ``count`` forked processes until told to stop.

    ``worker(number)`` returns its exit status: 0 after a graceful stop. One that
    returns ``EXIT_CANNOT_START`` (a database it cannot open, a certificate it cannot
    load) stops everything with status 1: restarting would not help.
    """

    count: int
    worker: Callable[[int], int]
    heartbeats: Heartbeats
    # Listening sockets, answered by the supervisor while no worker is alive: plain
    # HTTP with a 503, TLS by closing (a 503 would need a handshake).
    plain: Sequence[socket.socket] = ()
    secure: Sequence[socket.socket] = ()
    worker_timeout: float = 10.0
    graceful_timeout: float = 10.0
    # Called with the number of a worker that exited, before any replacement starts.
    exited: Callable[[int], None] | None = None
    children: dict[int, tuple[int, float]] = field(default_factory=dict)  # pid -> number, start
    restarts: dict[int, float] = field(default_factory=dict)  # number -> when
    stopping: bool = False
    stop_deadline: float = 0.0
    exit_code: int = 0
    quick_deaths: int = 0
    watching_since: float = 0.0  # heartbeats are judged from here (see SELF_STALL)
    last_watch: float = 0.0
    _stand_in: StandIn | None = field(default=None, init=False, repr=False)
    _wake: tuple[int, int] = field(default=(-1, -1), init=False, repr=False)

    def run(self) -> int:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        previous_fd = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in HANDLED}
        self._wake = (wake_read, wake_write)
        self._stand_in = StandIn(self.plain, self.secure, wake=wake_read)
        try:
            for number in range(1, self.count + 1):
                self._spawn(number)
            while self.children or (self.restarts and not self.stopping):
                self._stand_in.answer(not self.children)
                self._stand_in.wait(TICK)
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 512)
                self._reap()
                self._watch(time.monotonic())
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self._stand_in.close()
            os.close(wake_read)
            os.close(wake_write)
        return self.exit_code

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum != signal.SIGCHLD:
            self.stop()

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.restarts.clear()
        self.stop_deadline = time.monotonic() + self.graceful_timeout + STOP_MARGIN
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # gone already; reaped next
                os.kill(pid, sig)

    def _spawn(self, number: int) -> None:
        self.heartbeats.beat(number, time.monotonic())
        parent = os.getpid()
        # Signals wait until the child has its own handlers: a SIGTERM arriving in
        # between would otherwise run the supervisor's handler in the child (which
        # would stop the child's copy of the supervisor, siblings included) and be lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
            raise
        if pid == 0:
            signal.set_wakeup_fd(-1)
            # The supervisor's own descriptors: a connection the stand-in answered
            # must close when the supervisor closes it, not when this worker exits.
            for fd in self._wake:
                os.close(fd)
            if self._stand_in is not None:
                self._stand_in.forget()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)  # a pending SIGTERM ends it
            die_with_parent(parent)
            code = 1
            try:
                code = self.worker(number)
            except BaseException:
                logger.exception("worker %d failed", number)
            finally:
                os._exit(code)
        self.children[pid] = (number, time.monotonic())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self._exited(pid, os.waitstatus_to_exitcode(status))

    def _exited(self, pid: int, code: int) -> None:
        number, started = self.children.pop(pid)
        if self.exited is not None:
            self.exited(number)
        now = time.monotonic()
        if self.stopping:
            # -SIGTERM: stopped before its own handler was installed; still clean.
            clean = code in (0, -signal.SIGTERM)
            self.exit_code = self.exit_code or (0 if clean else 1)
            return
        if code == EXIT_CANNOT_START:
            logger.error("worker %d cannot start; stopping", number)
            self.exit_code = 1
            self.stop()
            return
        self.quick_deaths = self.quick_deaths + 1 if now - started < QUICK_DEATH_SECONDS else 1
        delay = restart_delay(self.quick_deaths)
        logger.error("worker %d exited with %d; restarting in %.1fs", number, code, delay)
        self.restarts[number] = now + delay

    def _watch(self, now: float) -> None:
        if now - self.last_watch > SELF_STALL:
            self.watching_since = now
        self.last_watch = now
        if self.stopping:
            if now >= self.stop_deadline and self.children:
                logger.error("%d worker(s) did not stop in time; killing", len(self.children))
                self._signal_all(signal.SIGKILL)
                self.stop_deadline = now + STOP_MARGIN
            return
        for number, when in list(self.restarts.items()):
            if now >= when:
                del self.restarts[number]
                self._spawn(number)
        for pid, (number, _) in list(self.children.items()):
            silent = now - max(self.heartbeats.last(number), self.watching_since)
            if silent > self.worker_timeout:
                logger.error(
                    "worker %d (pid %d) has not answered for %.0fs; replacing it",
                    number,
                    pid,
                    silent,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.heartbeats.beat(number, now)  # one kill per freeze, not one per tick
