"""What ``onebin serve`` needs to serve HTTPS: two apps, a TLS context and its keeper.

The HTTPS port serves the whole application with HSTS; the HTTP port answers ACME
challenges and redirects the rest. With ``--domain`` a certificate manager obtains
and renews the certificate; with ``--tls-cert`` the given files are served as they are,
and redirects go to the names they are valid for (``--domain`` still wins if given).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from onebin.config import Settings
from onebin.errors import ConfigError
from onebin.tls.context import SwappableContext
from onebin.tls.manager import CertificateManager, certificate_manager
from onebin.tls.redirect import challenge_and_redirect_app, with_hsts
from onebin.tls.storage import read_certificate
from onebin.types import ASGIApp

if TYPE_CHECKING:
    from onebin.store.database import Engine


@dataclass(frozen=True)
class HttpsSetup:
    https_app: ASGIApp
    http_app: ASGIApp
    context: ssl.SSLContext
    manager: CertificateManager | None


def https_setup(app: ASGIApp, settings: Settings, db: Engine | None = None) -> HttpsSetup:
    """Everything HTTPS needs; the manager, if any, is not started yet.

    With ``--database-url``, ``db`` (the process's open database) keeps the certificates,
    so replicas on other hosts share them; else they are files in the data directory.
    """
    swappable = SwappableContext()
    manager = None
    store = None
    names: Sequence[str] = settings.domain
    if settings.acme_enabled:
        manager = certificate_manager(settings, swappable, db)
        store = manager.store
    else:
        assert settings.tls_cert is not None
        try:
            swappable.load(settings.tls_cert, settings.tls_key)
        except ssl.SSLError as error:
            raise ConfigError(f"--tls-cert/--tls-key cannot be used: {error}") from None
        names = names or _certificate_names(settings.tls_cert)
    http_app = challenge_and_redirect_app(store, https_port=settings.https_port, domains=names)
    return HttpsSetup(with_hsts(app), http_app, swappable.context, manager)


def _certificate_names(path: Path) -> tuple[str, ...]:
    """The DNS names ``path``'s leaf certificate is valid for: where redirects may go."""
    certificate = read_certificate(path)
    return certificate.dns_names if certificate is not None else ()
