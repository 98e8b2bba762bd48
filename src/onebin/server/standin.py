"""The supervisor's stand-in: who answers the listening sockets while no worker is alive.

Without it, connections arriving while every worker is down (a crash loop backing
off) would wait in the kernel's backlog until a worker returned, or time out there.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Sequence

from onebin.server.protocol import error_bytes

# Connections accepted per wake-up, how long an answered connection is kept open to
# read its request, and how many are kept at once.
ACCEPT_BATCH = 256
LINGER = 2.0
MOST_LINGERING = 512

_NO_WORKER = error_bytes(
    503, "no_worker", "the server is restarting; try again in a moment", retry_after=1
)


class StandIn:
    """Answers the listening sockets while no worker is alive.

    Plain HTTP gets a JSON 503 ``no_worker``; TLS is closed (a 503 would need a
    handshake). An answered connection is not closed at once: closing a socket
    whose request is still unread (or arrives just after) sends a reset, and a
    reset makes the client drop the answer it has not read yet. So the request is
    read and discarded until the client closes, for at most ``LINGER`` seconds.
    """

    def __init__(
        self, plain: Sequence[socket.socket], secure: Sequence[socket.socket], *, wake: int
    ) -> None:
        # ``wake`` (the signal wake-up pipe) only ends a wait early; its reader drains it.
        self.wake = wake
        self.selector = selectors.DefaultSelector()
        self.selector.register(wake, selectors.EVENT_READ)
        self.plain = list(plain)
        self.secure = list(secure)
        self.answering = False
        self.lingering: dict[socket.socket, float] = {}  # connection -> when to close it

    def answer(self, on: bool) -> None:
        """Start (or stop) accepting from the listening sockets."""
        if on == self.answering:
            return
        self.answering = on
        for listener in (*self.plain, *self.secure):
            if on:
                listener.setblocking(False)
                self.selector.register(listener, selectors.EVENT_READ)
            else:
                self.selector.unregister(listener)

    def wait(self, timeout: float) -> None:
        """Up to ``timeout`` seconds: serve what is ready; return early on a wake-up."""
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            if sock == self.wake:
                continue
            assert isinstance(sock, socket.socket)
            if sock in self.lingering:
                self._drain(sock)
            else:
                self._accept(sock)
        now = time.monotonic()
        for conn, until in list(self.lingering.items()):
            if now >= until:
                self._close(conn)

    def close(self) -> None:
        for conn in list(self.lingering):
            self._close(conn)
        self.selector.close()

    def forget(self) -> None:
        """In a forked worker: drop the inherited descriptors. Not ``close``: the
        epoll instance is shared across the fork, so unregistering here would
        unregister them in the supervisor too."""
        for conn in self.lingering:
            conn.close()
        self.lingering.clear()
        self.selector.close()

    def _accept(self, listener: socket.socket) -> None:
        plain = listener in self.plain
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = listener.accept()
            except OSError:  # BlockingIOError: nothing (more) is waiting
                return
            conn.setblocking(False)
            if not plain or len(self.lingering) >= MOST_LINGERING:
                conn.close()
                continue
            try:
                conn.send(_NO_WORKER)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                conn.close()
                continue
            self.lingering[conn] = time.monotonic() + LINGER
            self.selector.register(conn, selectors.EVENT_READ)

    def _drain(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._close(conn)  # the client closed (or reset) its side

    def _close(self, conn: socket.socket) -> None:
        self.lingering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()
