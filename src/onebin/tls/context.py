"""The server's ``SSLContext``, whose certificate can be replaced while it serves.

uvicorn gets one context for the life of the process. Its SNI callback, which
OpenSSL runs early in every handshake (with or without SNI), moves the connection
onto the newest certificate's context. Replacing that context is one attribute
assignment, so a renewal affects the next handshake only: connections already
established keep the context they started with and finish undisturbed.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context() -> ssl.SSLContext:
    """TLS 1.2 or newer with OpenSSL's default ciphers; HTTP/1.1 is all uvicorn speaks."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


class SwappableContext:
    """Hands uvicorn ``context``; ``load`` switches the certificate for new connections."""

    def __init__(self) -> None:
        self.context = server_context()
        self.context.sni_callback = self._select
        self._current: ssl.SSLContext | None = None

    @property
    def has_certificate(self) -> bool:
        return self._current is not None

    def load(self, certfile: Path, keyfile: Path | None = None) -> None:
        """Serve this chain and key from the next handshake on; raises ``ssl.SSLError``."""
        context = server_context()
        context.load_cert_chain(certfile, keyfile)
        self._current = context

    def _select(
        self, connection: ssl.SSLObject, server_name: str | None, initial: ssl.SSLContext
    ) -> int | None:
        current = self._current
        if current is None:
            # No certificate yet (the first order is still running): refuse cleanly.
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        connection.context = current
        return None
