"""The server's ``SSLContext``, whose certificate can be replaced while it serves.

uvicorn gets one context for the life of the process. Its SNI callback, which
OpenSSL runs early in every handshake (with or without SNI), moves the connection
onto the newest certificate's context. Replacing that context is one attribute
assignment, so a renewal affects the next handshake only: connections already
established keep the context they started with and finish undisturbed.

Both contexts are built by ``server_context``, and must be: OpenSSL copies the
versions, cipher list, options, groups and ticket count into a connection from the
context it starts on, but takes the certificate, DH and signature settings from the
one the callback moves it to.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from onebin.tls import openssl

# Mozilla's "intermediate" profile, version 5.7 (https://wiki.mozilla.org/Security/Server_Side_TLS):
# TLS 1.2 and 1.3, AEAD suites with forward secrecy only. TLS 1.3 suites are OpenSSL's
# defaults, which are exactly the profile's three.
MOZILLA_INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    )
)
MOZILLA_INTERMEDIATE_GROUPS = "X25519:P-256:P-384"


def server_context() -> ssl.SSLContext:
    """A server context with Mozilla's intermediate profile; HTTP/1.1 is all uvicorn speaks.

    Session tickets are off: their keys would live as long as the process and are
    never rotated, so one leaked key would decrypt every past session that used it.
    Clients choose among the suites (the profile's advice: all are strong, and a
    phone without AES hardware does better with ChaCha20).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(MOZILLA_INTERMEDIATE_CIPHERS)
    context.options |= ssl.OP_NO_TICKET
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.num_tickets = 0
    openssl.configure(context, groups=MOZILLA_INTERMEDIATE_GROUPS, auto_dh=True)
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

    def load_pem(self, bundle: bytes) -> None:
        """``load`` for a chain and key held in memory (a certificate from the database).

        OpenSSL's Python binding reads certificates only from a path: the bundle goes
        to an anonymous memory file where Linux has one, so the private key never
        touches a disk; elsewhere to a private temporary file, removed at once.
        """
        if hasattr(os, "memfd_create"):
            descriptor = os.memfd_create("onebin-certificate", os.MFD_CLOEXEC)
            try:
                os.write(descriptor, bundle)
                self.load(Path(f"/proc/self/fd/{descriptor}"))
            finally:
                os.close(descriptor)
            return
        descriptor, name = tempfile.mkstemp(prefix="onebin-certificate-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(bundle)
            self.load(Path(name))
        finally:
            os.unlink(name)

    def _select(
        self, connection: ssl.SSLObject, server_name: str | None, initial: ssl.SSLContext
    ) -> int | None:
        current = self._current
        if current is None:
            # No certificate yet (the first order is still running): refuse cleanly.
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        connection.context = current
        return None
