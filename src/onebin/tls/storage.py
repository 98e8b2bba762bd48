"""Where certificates are kept: the contract (``CertificateStorage``), and the cache in
the data directory that implements it for one host (``CertificateStore``).

The other implementation, ``tls.database.DatabaseCertificateStore``, keeps the same
things in PostgreSQL for replicas on several hosts (``--database-url``).

Layout of the data-directory cache, one directory per ACME directory URL so staging
and production never mix::

    <data-dir>/tls/<ca-host>-<hash of the directory URL>/
        account.key              the ACME account key (mode 0600)
        <domain>.pem             certificate chain followed by its private key (0600)
        <domain>.json            maintenance status, for ``onebin tls status``
        challenges/<token>       HTTP-01 answers, readable by every serving process
        owner.lock               held by the one process that orders and renews

Contract: ``load_*`` return None when a file is missing. Every write replaces its file
atomically (a reader sees the old or the new content, never a mix), which is why the
key travels in the same file as its chain: there is no moment where a reader could
pair a new chain with an old key. Only the holder of ``owner.lock`` writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from onebin.store.lock import OwnerLock

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
# ACME tokens are base64url (RFC 8555 §8.3); anything else is refused before touching disk.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")

logger = logging.getLogger("onebin.tls")


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` in one step, durable once this returns."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class StoredCertificate:
    """A cached certificate as read from its bundle file."""

    chain: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def not_before(self) -> datetime:
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.leaf.not_valid_after_utc

    @property
    def serial(self) -> str:
        return format(self.leaf.serial_number, "x")

    @property
    def issuer(self) -> str:
        names = self.leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.leaf.issuer.rfc4514_string()

    @property
    def dns_names(self) -> tuple[str, ...]:
        """The DNS names of the subjectAltName, in the certificate's order."""
        try:
            extension = self.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return ()
        return tuple(extension.value.get_values_for_type(x509.DNSName))

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(self.dns_names)


def read_certificate(path: Path) -> StoredCertificate | None:
    """The certificate chain in a PEM file (other PEM blocks, like a key, are skipped).

    A damaged file (a disk fault, a bad manual edit) counts as missing, with one log
    line: the owner then orders a new certificate instead of failing on every pass.
    """
    data = _read(path)
    return None if data is None else parse_certificate(data, f"certificate file {path}")


def parse_certificate(data: bytes, where: str) -> StoredCertificate | None:
    """The chain in a PEM bundle; None, with one log line naming ``where``, if damaged."""
    try:
        return StoredCertificate(chain=tuple(x509.load_pem_x509_certificates(data)))
    except ValueError as error:
        logger.warning("ignoring unreadable %s: %s", where, error)
        return None


def is_token(token: str) -> bool:
    """An ACME token (base64url, RFC 8555 §8.3): anything else is never stored or looked up."""
    return _TOKEN.fullmatch(token) is not None


@dataclass(frozen=True)
class CertificateStatus:
    """What the owner last did for a certificate; times are ISO 8601 UTC strings.

    ``failed_orders`` (the recent failures, oldest first), ``consecutive_failures``
    and ``next_attempt`` are the retry schedule's memory: a restarted process, or
    another one taking over as owner, reads them before its first order so that
    no restart can bring an order forward.
    """

    renew_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    next_attempt: str | None = None
    failed_orders: tuple[str, ...] = ()
    consecutive_failures: int = 0

    @classmethod
    def from_json(cls, data: bytes) -> CertificateStatus:
        """Parse a status file; fields this version does not know are ignored."""
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        known = {name: fields[name] for name in cls.__dataclass_fields__ if name in fields}
        failed = known.get("failed_orders", [])
        if not isinstance(failed, list) or not all(isinstance(m, str) for m in failed):
            raise ValueError("failed_orders is not a list of times")
        if not isinstance(known.get("consecutive_failures", 0), int):
            raise ValueError("consecutive_failures is not a number")
        return cls(**{**known, "failed_orders": tuple(failed)})


def directory_key(directory_url: str) -> str:
    """A readable, collision-free folder name for an ACME directory URL."""
    host = urlsplit(directory_url).netloc.replace(":", "_") or "acme"
    digest = hashlib.sha256(directory_url.encode()).hexdigest()[:12]
    return f"{host}-{digest}"


class Ownership(Protocol):
    """Which process orders and renews: at most one at a time per store.

    - ``try_acquire()`` is True while this process owns: it takes a free (or expired)
      ownership, or keeps and renews its own. It is called on every maintenance pass.
    - ``hold_seconds``: how long ownership lasts without another ``try_acquire``; the
      owner must call again well within it. None: until ``release`` or the process
      dies (a kernel lock).
    - ``release()`` gives it up at once (nothing if not held); it never raises.
    - If the owner dies, another process may own once ``hold_seconds`` have passed
      (at once for a kernel lock).
    """

    hold_seconds: float | None

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


@contextmanager
def held(ownership: Ownership) -> Iterator[None]:
    """Keep renewing ``ownership`` every third of its length while the block runs.

    An ACME order can outlast a lease (a slow CA, a challenge retried): without
    renewal another replica would take over mid-order and order a second
    certificate. A kernel lock (``hold_seconds`` None) needs nothing. A renewal
    that fails is logged; the order goes on, as the lease simply expires.
    """
    hold = ownership.hold_seconds
    if hold is None:
        yield
        return
    done = threading.Event()

    def renew() -> None:
        while not done.wait(hold / 3):
            try:
                ownership.try_acquire()
            except Exception as error:
                logger.warning("could not renew the certificate lease: %s", error)

    keeper = threading.Thread(target=renew, name="onebin-lease", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()


class CertificateStorage(Protocol):
    """The certificate cache of one ACME directory, shared by every process serving it.

    Contract:
    - ``load_*`` return None (``load_status``: an empty status) when nothing is stored;
      damaged content counts as missing, with one log line.
    - Every ``save_*``/``put_*`` replaces what it names atomically: a reader sees the old
      or the new value, never a mix. A certificate's chain and key are saved together
      (``load_bundle`` returns both), so no reader can pair a new chain with an old key.
    - ``certificate_version`` is cheap (processes poll it every few seconds) and changes
      whenever the bundle does; None when there is no certificate.
    - Only the holder of ``lock`` (an ``Ownership``) writes certificates, status and
      challenges; any process reads, and any process answers ``challenge_answer``.
    - Every method but ``challenge_answer`` is synchronous and may block (the
      maintenance thread and the command line call them); ``challenge_answer`` is a
      coroutine for the HTTP port's event loop, which it must not block.
    - Storage failures raise (``OSError``, or the engine's ``StoreFault``): the
      maintenance loop logs them and tries again later.
    """

    lock: Ownership

    def load_account_key(self) -> bytes | None: ...

    def save_account_key(self, key_pem: bytes) -> None: ...

    def load_certificate(self, name: str) -> StoredCertificate | None: ...

    def load_bundle(self, name: str) -> bytes | None: ...

    def certificate_version(self, name: str) -> str | None: ...

    def save_certificate(self, name: str, chain_pem: bytes, key_pem: bytes) -> None: ...

    def load_status(self, name: str) -> CertificateStatus: ...

    def save_status(self, name: str, status: CertificateStatus) -> None: ...

    def put_challenge(self, token: str, key_authorization: str) -> None: ...

    def delete_challenge(self, token: str) -> None: ...

    async def challenge_answer(self, token: str) -> bytes | None: ...


class CertificateStore:
    """The files of one ACME directory under ``<data-dir>/tls/`` (see the module docstring).

    A ``CertificateStorage`` shared by the processes of one host: ownership is a kernel
    lock on ``owner.lock``, released when its holder dies.
    """

    def __init__(self, data_dir: Path, directory_url: str) -> None:
        self.root = data_dir / "tls" / directory_key(directory_url)
        self.lock = OwnerLock(self.root / "owner.lock")

    def load_account_key(self) -> bytes | None:
        return _read(self.root / "account.key")

    def save_account_key(self, key_pem: bytes) -> None:
        write_atomic(self.root / "account.key", key_pem, mode=SECRET_MODE)

    def certificate_path(self, name: str) -> Path:
        return self.root / f"{name}.pem"

    def load_certificate(self, name: str) -> StoredCertificate | None:
        return read_certificate(self.certificate_path(name))

    def load_bundle(self, name: str) -> bytes | None:
        return _read(self.certificate_path(name))

    def certificate_version(self, name: str) -> str | None:
        """The file's identity and size: ``write_atomic`` makes a new inode every time."""
        try:
            stat = self.certificate_path(name).stat()
        except FileNotFoundError:
            return None
        return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"

    def save_certificate(self, name: str, chain_pem: bytes, key_pem: bytes) -> None:
        bundle = chain_pem.rstrip(b"\n") + b"\n" + key_pem
        write_atomic(self.certificate_path(name), bundle, mode=SECRET_MODE)

    def load_status(self, name: str) -> CertificateStatus:
        """The saved status; a damaged file counts as missing, with one log line."""
        path = self.root / f"{name}.json"
        data = _read(path)
        if not data:
            return CertificateStatus()
        try:
            return CertificateStatus.from_json(data)
        except (ValueError, TypeError) as error:
            logger.warning("ignoring unreadable status file %s: %s", path, error)
            return CertificateStatus()

    def save_status(self, name: str, status: CertificateStatus) -> None:
        data = json.dumps(asdict(status), indent=2).encode()
        write_atomic(self.root / f"{name}.json", data, mode=PUBLIC_MODE)

    def _challenge_path(self, token: str) -> Path | None:
        return self.root / "challenges" / token if is_token(token) else None

    def put_challenge(self, token: str, key_authorization: str) -> None:
        path = self._challenge_path(token)
        if path is None:
            raise ValueError(f"not an ACME token: {token!r}")
        write_atomic(path, key_authorization.encode(), mode=PUBLIC_MODE)

    def get_challenge(self, token: str) -> bytes | None:
        path = self._challenge_path(token)
        return None if path is None else _read(path)

    async def challenge_answer(self, token: str) -> bytes | None:
        # A small local file: reading it on the loop costs less than a thread hop.
        return self.get_challenge(token)

    def delete_challenge(self, token: str) -> None:
        path = self._challenge_path(token)
        if path is not None:
            path.unlink(missing_ok=True)
