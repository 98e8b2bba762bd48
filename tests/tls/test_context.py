"""The TLS profile, checked on a real ``onebin serve --tls-cert`` by sslyze and by OpenSSL.

A refused handshake looks the same whoever refused (asyncio closes without sending
the alert), so each refusal is paired with a client that differs in one setting
only and is accepted.
"""

from __future__ import annotations

import ssl
import subprocess
import warnings
from collections.abc import Iterator

import pytest

from onebin.tls import openssl
from onebin.tls.context import MOZILLA_INTERMEDIATE_CIPHERS, server_context
from tests.support import free_port
from tests.tls.certificates import Issued, issue
from tests.tls.https_server import HttpsServer, exchange, open_tls
from tests.tls.scanner import scan_mozilla_intermediate

# The profile's TLS 1.2 suites by their IANA names, as sslyze reports them.
INTERMEDIATE_TLS12 = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}


class Served:
    def __init__(self, server: HttpsServer, issued: Issued) -> None:
        self.server = server
        self.issued = issued
        self.port = server.https_port

    def client(self, *, ciphers: str | None = None, version: ssl.TLSVersion | None = None):
        context = ssl.create_default_context(cadata=self.issued.ca_pem)
        if ciphers is not None:
            context.set_ciphers(ciphers)
        if version is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, on purpose
                context.minimum_version = context.maximum_version = version
        return context

    def handshake(self, context: ssl.SSLContext) -> tuple[str, str]:
        """(protocol, cipher) of a completed handshake; raises ``ssl.SSLError`` if refused."""
        with open_tls(self.port, context) as tls:
            protocol, cipher = tls.version(), tls.cipher()[0]
            assert protocol is not None
            return protocol, cipher

    def s_client(self, *args: str) -> tuple[bool, str]:
        """Whether ``openssl s_client`` with ``args`` completes a handshake, and its output."""
        result = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
             "-servername", "app.test", "-brief", *args],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        return result.returncode == 0 and "CONNECTION ESTABLISHED" in output, output


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """One server with an ECDSA P-256 certificate, one with RSA-2048."""
    started = {}
    try:
        for kind in ("ec", "rsa"):
            root = tmp_path_factory.mktemp(f"tls-{kind}")
            issued = issue(root / "cert", "app.test", kind=kind)
            server = HttpsServer(root / "data", http_port=free_port(), tls_args=issued.tls_args)
            started[kind] = Served(server.start(), issued)
        yield started
    finally:
        for served in started.values():
            served.server.stop()


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_context_is_mozilla_intermediate_compliant_by_sslyze(servers, kind, tmp_path):
    served = servers[kind]
    scan = scan_mozilla_intermediate(served.port, served.issued.ca, tmp_path / "scan.json")
    assert "OK - Compliant." in scan.output, scan.output
    assert scan.returncode == 0, scan.output
    for old in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        assert scan.accepted(old) == set()
    assert scan.accepted("tls_1_2") <= INTERMEDIATE_TLS12
    assert scan.accepted("tls_1_3") == {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
    assert scan.curves == {"X25519", "secp256r1", "secp384r1"}
    assert scan.resumption["tls_ticket_resumption_result"] != "SUCCEEDED"
    if kind == "rsa":
        # DHE works, with Mozilla's 2048-bit minimum: the settings of the context the
        # SNI callback switches to reached the connection.
        assert "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" in scan.accepted("tls_1_2")
        assert "DH 2048" in scan.key_exchange("tls_1_2")


@pytest.mark.parametrize(
    ("refused", "accepted"),
    [
        ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        ("ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    ],
)
def test_context_refuses_cbc_suites(servers, refused, accepted):
    served = servers["ec"]
    tls12 = ssl.TLSVersion.TLSv1_2
    assert served.handshake(served.client(ciphers=accepted, version=tls12)) == ("TLSv1.2", accepted)
    with pytest.raises(ssl.SSLError):
        served.handshake(served.client(ciphers=f"{refused}:@SECLEVEL=0", version=tls12))


def test_context_refuses_tls_1_1(servers):
    served = servers["ec"]
    with pytest.raises(ssl.SSLError):
        served.handshake(
            served.client(ciphers="DEFAULT:@SECLEVEL=0", version=ssl.TLSVersion.TLSv1_1)
        )
    assert served.handshake(served.client(version=ssl.TLSVersion.TLSv1_2))[0] == "TLSv1.2"


@pytest.mark.parametrize("group", ["P-521", "X448", "ffdhe2048", "ffdhe3072"])
def test_context_refuses_tls13_clients_without_an_allowed_group(servers, group):
    served = servers["ec"]
    refused, output = served.s_client("-tls1_3", "-groups", group)
    assert not refused, output
    for allowed in ("X25519", "P-256", "P-384"):
        accepted, output = served.s_client("-tls1_3", "-groups", allowed)
        assert accepted, output


@pytest.mark.parametrize("group", ["P-521", "X448"])
def test_context_refuses_tls12_ecdhe_clients_without_an_allowed_group(servers, group):
    # The RSA server: with an ECDSA P-256 certificate a TLS 1.2 client must offer P-256
    # anyway (the certificate's curve), which would make this test pass for any server.
    served = servers["rsa"]
    ecdhe = ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    refused, output = served.s_client(*ecdhe, "-groups", group)
    assert not refused, output
    accepted, output = served.s_client(*ecdhe, "-groups", "P-384")
    assert accepted, output
    assert "P-384" in output or "secp384r1" in output


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
def test_context_issues_no_session_tickets(servers, version):
    served = servers["ec"]
    with open_tls(served.port, served.client(version=version)) as tls:
        # A TLS 1.3 ticket arrives after the handshake: read a response first.
        assert exchange(tls, "/healthz")[0] == 200
        assert tls.session is not None
        assert not tls.session.has_ticket


def test_context_lets_the_client_choose_among_allowed_suites(servers):
    served = servers["ec"]
    # The profile lists AES-GCM before ChaCha20; a client preferring ChaCha20 gets it.
    client = served.client(
        ciphers="ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
        version=ssl.TLSVersion.TLSv1_2,
    )
    assert served.handshake(client)[1] == "ECDHE-ECDSA-CHACHA20-POLY1305"


def test_server_context_has_exactly_the_profile_suites():
    context = server_context()
    tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 == MOZILLA_INTERMEDIATE_CIPHERS.split(":")
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.maximum_version == ssl.TLSVersion.TLSv1_3
    assert context.options & ssl.OP_NO_TICKET
    assert context.num_tickets == 0


def test_openssl_configure_fails_loudly_on_a_group_openssl_lacks():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(openssl.OpenSSLError, match="refused the key-exchange groups"):
        openssl.configure(context, groups="X25519:no-such-group", auto_dh=False)
