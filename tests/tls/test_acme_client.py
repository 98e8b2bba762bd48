from __future__ import annotations

import stat

import pytest
from cryptography import x509

from onebin.errors import AcmeError
from onebin.tls.acme_client import AcmeIssuer
from onebin.tls.storage import CertificateStore, read_certificate
from tests.support import free_port
from tests.tls.pebble import Pebble, serve_challenges

pytestmark = pytest.mark.pebble


def issuer_for(store: CertificateStore, pebble: Pebble) -> AcmeIssuer:
    return AcmeIssuer(store, directory_url=pebble.directory, ca_file=pebble.ca_file)


@pytest.mark.usefixtures("challenge_server")
def test_issue_one_order_covers_every_domain(store, pebble, tmp_path):
    issued = issuer_for(store, pebble).issue(["app.test", "www.app.test"])
    store.save_certificate("app.test", issued.chain_pem, issued.key_pem)
    certificate = store.load_certificate("app.test")
    assert certificate.domains == {"app.test", "www.app.test"}
    assert len(certificate.chain) >= 2  # leaf and Pebble's intermediate
    key = x509.load_pem_x509_certificate(issued.chain_pem).public_key()
    assert key.curve.name == "secp256r1"
    assert stat.S_IMODE(store.certificate_path("app.test").stat().st_mode) == 0o600
    assert not list((store.root / "challenges").iterdir())  # answers removed afterwards


@pytest.mark.usefixtures("challenge_server")
def test_issue_reuses_the_cached_account_key(store, pebble):
    issuer = issuer_for(store, pebble)
    issuer.issue(["app.test"])
    key = store.load_account_key()
    issuer.issue(["app.test"])
    assert store.load_account_key() == key
    assert stat.S_IMODE((store.root / "account.key").stat().st_mode) == 0o600


def test_issue_survives_many_bad_nonces(start_pebble, tmp_path, http_port):
    # At 30% rejections two in a row (all the acme library tolerates) happen on ~9% of
    # requests, so an order of ~20 requests fails without our retries.
    pebble = start_pebble(nonce_reject_percent=30)
    store = CertificateStore(tmp_path / "data", pebble.directory)
    with serve_challenges(store, http_port):
        for _ in range(3):
            issued = issuer_for(store, pebble).issue(["app.test"])
            assert x509.load_pem_x509_certificates(issued.chain_pem)


def test_issue_with_challenge_unanswered_is_one_line_error(store, pebble):
    # Nothing listens on Pebble's HTTP port: validation fails.
    with pytest.raises(AcmeError, match=r"^challenge failed: app\.test: ") as raised:
        issuer_for(store, pebble).issue(["app.test"])
    assert "\n" not in str(raised.value)


def test_issue_with_ca_down_is_unreachable_error(tmp_path):
    directory = f"https://127.0.0.1:{free_port()}/dir"
    store = CertificateStore(tmp_path / "data", directory)
    with pytest.raises(AcmeError, match="CA unreachable"):
        AcmeIssuer(store, directory_url=directory).issue(["app.test"])
    assert read_certificate(store.certificate_path("app.test")) is None
