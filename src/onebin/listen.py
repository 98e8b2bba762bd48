"""Listening sockets, bound before anything else starts.

Binding first makes a port problem a clear error at once (before a worker forks or
a CA is contacted), lets forked workers share the sockets, and means the HTTP
listener is up before the CA's first challenge request can arrive.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from onebin.config import Settings
from onebin.errors import ListenError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or ``ListenError`` in terms an operator can act on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        hint = ""
        if error.errno == errno.EACCES and port < 1024:
            hint = " (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability)"
        raise ListenError(f"cannot listen on {host}:{port}: {error.strerror}{hint}") from None


@dataclass(frozen=True)
class Sockets:
    """The plain-HTTP socket, and the HTTPS one when HTTPS is on."""

    http: socket.socket
    https: socket.socket | None = None


def bind_all(settings: Settings) -> Sockets:
    if settings.https_enabled:
        https = bind(settings.host, settings.https_port)
        return Sockets(http=bind(settings.host, settings.http_port), https=https)
    return Sockets(http=bind(settings.host, settings.port))
