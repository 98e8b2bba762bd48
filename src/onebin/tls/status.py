"""What ``onebin tls status`` reports: per domain, the certificate served and its upkeep.

It reads only the store (the data directory, or the database with ``--database-url``),
never the CA, so it works while the server runs, while it is stopped and while the CA
is down.
"""

from __future__ import annotations

from dataclasses import dataclass

from onebin.app import App
from onebin.config import Settings
from onebin.store.database import Engine
from onebin.tls.manager import acme_store
from onebin.tls.storage import CertificateStatus, StoredCertificate, read_certificate


@dataclass(frozen=True)
class DomainStatus:
    domain: str
    certificate: StoredCertificate | None
    upkeep: CertificateStatus
    managed: bool


def tls_status(
    settings: Settings, app: App | None = None, db: Engine | None = None
) -> list[DomainStatus]:
    """One entry per domain; empty when HTTPS is off. With ``--database-url`` the
    certificates are in the database: ``db`` when it is open (a running server's),
    else opened here for ``app`` (its migrations say what the database is)."""
    if settings.acme_enabled:
        if settings.database_url is not None and db is None and app is not None:
            from onebin.compose import open_database

            opened = open_database(settings, app)
            try:
                return tls_status(settings, db=opened)
            finally:
                opened.close()
        name = settings.domain[0]
        store = acme_store(settings, db)
        certificate = store.load_certificate(name)
        upkeep = store.load_status(name)
        return [
            DomainStatus(
                domain,
                certificate if certificate and domain in certificate.domains else None,
                upkeep,
                managed=True,
            )
            for domain in settings.domain
        ]
    if settings.tls_cert is not None:
        certificate = read_certificate(settings.tls_cert)
        domains = sorted(certificate.domains) if certificate else []
        return [
            DomainStatus(domain, certificate, CertificateStatus(), managed=False)
            for domain in settings.domain or domains
        ]
    return []
