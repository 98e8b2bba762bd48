"""Accepting connections: onebin's own accept loop in front of uvicorn's protocol.

Why not the event loop's server: a connection must be counted against the caps
the moment it is accepted, with its client's address, before any TLS handshake
(5,000 connections that never finished a handshake once slipped past every cap
and timeout); and a connection over a cap should cost as little as possible, since
under a flood most connections are refused. So the listening socket is read here:
each accepted socket is admitted by the ``ConnectionRegistry`` (or answered with a
prepared 503 and closed, without building a protocol for it), then handed to the
loop with ``connect_accepted_socket``, which does the TLS handshake with its own
deadline. A handshake that fails or times out gives its place back.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable

from onebin import metrics
from onebin.logs import RepeatLimiter
from onebin.server.connections import ConnectionRegistry, Refused
from onebin.server.listen import LINGERING_DESCRIPTORS
from onebin.server.protocol import error_bytes

logger = logging.getLogger("onebin")
# Accepted per wake-up, so a flood of new connections cannot starve the others.
ACCEPT_BATCH = 256
# After accept() fails for want of descriptors, wait this long before trying again.
DESCRIPTORS_PAUSE = 0.5
# A refused connection is read until the client closes, for at most LINGER seconds
# and LINGERING_DESCRIPTORS at a time: closing a socket with its request unread sends
# a reset, and a reset makes the client drop the 503 it has not read yet.
LINGER = 1.0

Guarded = Callable[[str | None], asyncio.Protocol]


class Acceptor:
    """Accepts from ``sock`` on the running loop; stands in for an ``asyncio.Server``."""

    def __init__(
        self,
        sock: socket.socket,
        make_protocol: Guarded,
        registry: ConnectionRegistry,
        *,
        tls: ssl.SSLContext | None,
        handshake_timeout: float,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.make_protocol = make_protocol
        self.registry = registry
        self.tls = tls
        self.handshake_timeout = handshake_timeout
        self.handshaking: set[asyncio.Task[None]] = set()
        self.lingering: dict[socket.socket, int] = {}  # refused connection -> its descriptor
        self._log = RepeatLimiter(logger, window=60.0)
        self._serving = False
        sock.setblocking(False)
        self.start()

    def start(self) -> None:
        if not self._serving:
            self._serving = True
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self) -> None:
        if self._serving:
            self._serving = False
            self.loop.remove_reader(self.sock.fileno())
        for conn in list(self.lingering):
            self._let_go(conn)

    async def wait_closed(self) -> None:
        """Like ``asyncio.Server.wait_closed``: nothing to wait for once closed."""

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._accept_failed(error)
                return
            address = peer[0] if isinstance(peer, tuple) else ""
            try:
                key = self.registry.admit(address)
            except Refused as refused:
                metrics.recorder().refused(refused.code)
                self._refuse(conn, refused)
                continue
            task = self.loop.create_task(self._connect(conn, key))
            self.handshaking.add(task)
            task.add_done_callback(self.handshaking.discard)

    async def _connect(self, conn: socket.socket, key: str | None) -> None:
        made: list[asyncio.Protocol] = []

        def factory() -> asyncio.Protocol:
            made.append(self.make_protocol(key))
            return made[-1]

        try:
            await self.loop.connect_accepted_socket(
                factory,
                conn,
                ssl=self.tls,
                ssl_handshake_timeout=self.handshake_timeout if self.tls else None,
            )
        except Exception:  # a failed or timed-out handshake: the loop has closed it
            if not made:
                conn.close()
            self.registry.release(key)

    def _refuse(self, conn: socket.socket, refused: Refused) -> None:
        if self.tls is not None:  # a TLS client could not read a plain answer
            conn.close()
            return
        try:
            conn.setblocking(False)
            conn.send(error_bytes(503, refused.code, refused.message, retry_after=1))
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            conn.close()
            return
        if len(self.lingering) >= LINGERING_DESCRIPTORS:  # a flood: the answer goes out as is
            conn.close()
            return
        self.lingering[conn] = conn.fileno()
        self.loop.add_reader(conn.fileno(), self._drain, conn)
        self.loop.call_later(LINGER, self._let_go, conn)

    def _drain(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                return  # more of the unread request; wait for the client to close
        except BlockingIOError:
            return
        except OSError:
            pass
        self._let_go(conn)

    def _let_go(self, conn: socket.socket) -> None:
        fd = self.lingering.pop(conn, None)
        if fd is not None:  # still ours: its descriptor cannot have been reused yet
            self.loop.remove_reader(fd)
            conn.close()

    def _accept_failed(self, error: OSError) -> None:
        if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            self._log.log(
                logging.ERROR,
                "descriptors",
                f"cannot accept connections: {error.strerror} (the open-files limit); "
                "lower --max-connections or raise the limit",
            )
            # The socket stays readable; pause rather than spin until a descriptor is free.
            self.close()
            self.loop.call_later(DESCRIPTORS_PAUSE, self.start)
        else:
            self._log.log(logging.WARNING, "accept", f"accept failed: {error}")
