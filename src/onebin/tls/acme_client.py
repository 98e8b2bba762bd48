"""The CA, seen through certbot's ``acme`` library: one call to get a certificate.

The library is synchronous (requests and ``time.sleep``), so callers run this off the
event loop. Its network layer retries a ``badNonce`` rejection only once, while a CA
may reject any request (Pebble rejects 5% on purpose, so two in a row happen); the
network here keeps retrying a few times, because a fresh nonce is all that is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import josepy
import requests
from acme import challenges, client, crypto_util, messages
from acme import errors as acme_errors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from onebin import __version__
from onebin.errors import AcmeError
from onebin.tls.storage import CertificateStorage

logger = logging.getLogger("onebin.tls")

BAD_NONCE_ATTEMPTS = 10
ORDER_TIMEOUT = timedelta(seconds=90)


def new_private_key() -> bytes:
    """A fresh ECDSA P-256 key as PKCS#8 PEM (what ``make_csr`` expects)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class _NonceTolerantNetwork(client.ClientNetwork):
    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for _ in range(BAD_NONCE_ATTEMPTS - 1):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce":
                    raise
                logger.debug("CA rejected a nonce twice in a row; retrying with a fresh one")
        return super().post(*args, **kwargs)


def describe(error: Exception) -> str:
    """One line saying what went wrong, in the CA's words where it gave any."""
    if isinstance(error, acme_errors.ValidationError):
        problems = []
        for authorization in error.failed_authzrs:
            for challenge in authorization.body.challenges:
                if challenge.error is not None:
                    detail = challenge.error.detail or challenge.error.code
                    problems.append(f"{authorization.body.identifier.value}: {detail}")
        return "challenge failed: " + "; ".join(problems)
    if isinstance(error, messages.Error):
        return f"CA refused the request ({error.code}): {error.detail}"
    if isinstance(error, requests.ConnectionError):
        return "CA unreachable: could not connect"
    if isinstance(error, requests.Timeout):
        return "CA unreachable: request timed out"
    if isinstance(error, acme_errors.TimeoutError):
        return "CA did not finish the order in time"
    return f"{type(error).__name__}: {error}".strip()


@dataclass(frozen=True)
class Issued:
    chain_pem: bytes
    key_pem: bytes


class AcmeIssuer:
    """Orders certificates from one ACME directory, answering HTTP-01 through ``store``.

    Challenge answers are kept in the store, so whichever process receives the CA's
    validation request can answer it.
    """

    def __init__(
        self,
        store: CertificateStorage,
        *,
        directory_url: str,
        email: str = "",
        ca_file: Path | None = None,
    ) -> None:
        self.store = store
        self.directory_url = directory_url
        self.email = email
        self.verify: str | bool = str(ca_file) if ca_file is not None else True

    def issue(self, domains: Sequence[str]) -> Issued:
        """One order covering every domain; raises ``AcmeError`` on any failure."""
        try:
            return self._issue(domains)
        except (acme_errors.Error, messages.Error, requests.RequestException) as error:
            raise AcmeError(describe(error)) from error

    def suggested_renewal(self, chain_pem: bytes) -> tuple[datetime | None, datetime]:
        """The CA's renewal time (RFC 9773) if it offers one, and when to ask again."""
        try:
            network = self._network(None)
            acme = client.ClientV2(self._directory(network), network)
            suggested, ask_again = acme.renewal_time(chain_pem)
        except (acme_errors.Error, messages.Error, requests.RequestException) as error:
            raise AcmeError(describe(error)) from error
        # The library returns a naive local time when it has nothing better to say.
        if ask_again.tzinfo is None:
            ask_again = ask_again.astimezone(UTC)
        return suggested, ask_again

    def _network(self, key: josepy.JWK | None) -> client.ClientNetwork:
        return _NonceTolerantNetwork(
            key, alg=josepy.ES256, verify_ssl=self.verify, user_agent=f"onebin/{__version__}"
        )

    def _directory(self, network: client.ClientNetwork) -> messages.Directory:
        return client.ClientV2.get_directory(self.directory_url, network)

    def _account_key(self) -> josepy.JWKEC:
        pem = self.store.load_account_key()
        if pem is None:
            pem = new_private_key()
            self.store.save_account_key(pem)
        return josepy.JWKEC.load(pem)

    def _account(self, key: josepy.JWKEC) -> client.ClientV2:
        network = self._network(key)
        acme = client.ClientV2(self._directory(network), network)
        registration = messages.NewRegistration.from_data(
            email=self.email or None, terms_of_service_agreed=True
        )
        try:
            acme.new_account(registration)
        except acme_errors.ConflictError as existing:
            network.account = messages.RegistrationResource(
                uri=existing.location, body=messages.Registration()
            )
        return acme

    def _issue(self, domains: Sequence[str]) -> Issued:
        account_key = self._account_key()
        acme = self._account(account_key)
        key_pem = new_private_key()
        order = acme.new_order(crypto_util.make_csr(key_pem, list(domains)))
        published: list[str] = []
        try:
            for authorization in order.authorizations:
                if authorization.body.status == messages.STATUS_VALID:
                    continue  # the CA remembers an earlier validation
                challenge = self._http01(authorization)
                response, key_authorization = challenge.response_and_validation(account_key)
                token = challenge.chall.encode("token")
                self.store.put_challenge(token, key_authorization)
                published.append(token)
                acme.answer_challenge(challenge, response)
            deadline = datetime.now() + ORDER_TIMEOUT
            order = acme.poll_and_finalize(order, deadline)
        finally:
            for token in published:
                self.store.delete_challenge(token)
        return Issued(chain_pem=order.fullchain_pem.encode(), key_pem=key_pem)

    @staticmethod
    def _http01(authorization: messages.AuthorizationResource) -> messages.ChallengeBody:
        for challenge in authorization.body.challenges:
            if isinstance(challenge.chall, challenges.HTTP01):
                return challenge
        name = authorization.body.identifier.value
        raise AcmeError(f"CA offers no HTTP-01 challenge for {name}")
