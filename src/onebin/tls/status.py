"""What ``onebin tls status`` reports: per domain, the certificate served and its upkeep.

It reads only the data directory, never the CA, so it works while the server runs,
while it is stopped and while the CA is down.
"""

from __future__ import annotations

from dataclasses import dataclass

from onebin.config import Settings
from onebin.tls.manager import acme_store
from onebin.tls.storage import CertificateStatus, StoredCertificate, read_certificate


@dataclass(frozen=True)
class DomainStatus:
    domain: str
    certificate: StoredCertificate | None
    upkeep: CertificateStatus
    managed: bool


def tls_status(settings: Settings) -> list[DomainStatus]:
    """One entry per domain; empty when HTTPS is off."""
    if settings.acme_enabled:
        store = acme_store(settings)
        name = settings.domain[0]
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
