"""Certificates that pass a strict verifier, as a public CA would issue them.

trustme's leaves carry a non-empty subject with a critical subjectAltName, which
RFC 5280 forbids and the ``cryptography`` verifier behind sslyze's Mozilla check
refuses; they also last until the year 3000, while Mozilla allows 366 days. These
follow the CA/Browser Forum profile instead: empty leaf subject, critical SAN,
serverAuth only, 90 days.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key, days: int
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


@dataclass(frozen=True)
class Issued:
    """A leaf's files, and the root that verifies it."""

    cert: Path
    key: Path
    ca: Path

    @property
    def ca_pem(self) -> str:
        return self.ca.read_text()

    @property
    def tls_args(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]


def _usage(**allowed: bool) -> x509.KeyUsage:
    """A KeyUsage extension with only ``allowed`` set (x509 wants all nine named)."""
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: allowed.get(name, False) for name in names})


def issue(
    directory: Path, *names: str, kind: str = "ec", ips: tuple[str, ...] = (), days: int = 90
) -> Issued:
    """A fresh root and a leaf for ``names`` (DNS) and ``ips``; ``kind`` is "ec" or "rsa"."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onebin test root")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), 3650)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _usage(key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = _key(kind)
    alternative = [x509.DNSName(name) for name in names]
    alternative += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    leaf = (
        _builder(x509.Name([]), ca_name, key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _usage(digital_signature=True, key_encipherment=kind == "rsa"),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    issued = Issued(directory / "fullchain.pem", directory / "key.pem", directory / "ca.pem")
    issued.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    issued.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    issued.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return issued
