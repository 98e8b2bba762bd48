"""Listening sockets and the descriptor budget, settled before anything else starts.

Binding first makes a port problem a clear error at once (before a worker forks or
a CA is contacted), lets forked workers share the sockets, and means the HTTP
listener is up before the CA's first challenge request can arrive.

Every connection is a file descriptor. systemd starts services with a soft limit of
1,024 open files, below the old default cap of 1,024 connections, so past the limit
``accept`` failed silently and nobody was served. At start the soft limit is raised
to the hard one (which any process may do), and the connection cap is derived from
what is left after the descriptors onebin needs for itself.
"""

from __future__ import annotations

import errno
import os
import resource
import socket
from dataclasses import dataclass

from onebin.config import Settings
from onebin.errors import ListenError

# Descriptors kept for everything but client connections: the database and its WAL,
# locks, listening sockets, logs, the certificate cache, backups, threads' pipes.
RESERVED_DESCRIPTORS = 64
# Refused connections kept open for a moment so their 503 is read (see ``accept``).
LINGERING_DESCRIPTORS = 256
# The cap when none is given: enough for any one process; each idle connection
# costs some kilobytes, so more would mostly serve an attacker.
AUTO_CONNECTIONS = 10_000
# The most the soft limit is raised to when the hard limit is "unlimited".
MOST_OPEN_FILES = 1 << 20
BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or ``ListenError`` in terms an operator can act on.

    ``::`` takes IPv4 too (``IPV6_V6ONLY`` off) where the kernel allows it:
    ``create_server`` would otherwise make it IPv6 only, and "every address" that
    an IPv4 client cannot reach is not what anyone means by it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    dualstack = host == "::" and socket.has_dualstack_ipv6()
    try:
        return socket.create_server(
            (host, port), family=family, backlog=BACKLOG, dualstack_ipv6=dualstack
        )
    except OSError as error:
        hint = ""
        if error.errno == errno.EACCES and port < 1024:
            hint = " (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability)"
        # create_server's message repeats the address; the errno's text is enough.
        reason = os.strerror(error.errno) if error.errno else str(error)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(f"cannot listen on {where}: {reason}{hint}") from None


@dataclass(frozen=True)
class Sockets:
    """The plain-HTTP socket, and the HTTPS one when HTTPS is on."""

    http: socket.socket
    https: socket.socket | None = None


def bind_all(settings: Settings) -> Sockets:
    host = settings.listen_host
    if settings.https_enabled:
        https = bind(host, settings.https_port)
        return Sockets(http=bind(host, settings.http_port), https=https)
    return Sockets(http=bind(host, settings.port))


def url(scheme: str, sock: socket.socket) -> str:
    """Where ``sock`` listens, as a URL: the port it really got (``--port 0`` picks one)."""
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MOST_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep what we have; the cap below follows it
    return MOST_OPEN_FILES if soft == resource.RLIM_INFINITY else soft


def connection_cap(requested: int | None, open_files: int) -> tuple[int, str | None]:
    """The connection cap for a process allowed ``open_files`` descriptors. Pure.

    Returns the cap and, when it differs from what was asked for, why (for the log).
    """
    room = max(1, open_files - RESERVED_DESCRIPTORS - LINGERING_DESCRIPTORS)
    if requested is None:
        return min(AUTO_CONNECTIONS, room), None
    if requested <= room:
        return requested, None
    return room, (
        f"--max-connections {requested} lowered to {room}: the open-files limit is "
        f"{open_files} (raise LimitNOFILE= in the systemd unit, or ulimit -n)"
    )
