"""End to end: a real ``onebin serve --domain`` process, a real Pebble, real TLS clients."""

from __future__ import annotations

import json
import ssl
import time
import warnings
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trustme
from cryptography import x509

from onebin.tls.storage import CertificateStatus, CertificateStore
from tests.support import free_port, raw_exchange, split_response, wait_until
from tests.tls.certificates import issue
from tests.tls.handshake import client_context, serial_of, served_serial
from tests.tls.https_server import HttpsServer, acme_args, exchange, open_tls

pytestmark = pytest.mark.pebble


def server_for(tmp_path, pebble, http_port, name="data") -> HttpsServer:
    args = acme_args(pebble.directory, pebble.ca_file)
    return HttpsServer(tmp_path / name, http_port=http_port, tls_args=args)


def wait_for_certificate(server: HttpsServer, root: str, timeout: float = 30) -> str:
    """The serial of the first certificate a new connection is served."""
    seen: list[str] = []

    def served() -> bool:
        serial = served_serial(server.https_port, root)
        if serial is not None:
            seen.append(serial)
        return bool(seen)

    wait_until(served, timeout=timeout, interval=0.1, what=f"a certificate on :{server.https_port}")
    return seen[0]


def test_serve_obtains_certificate_via_http01_and_serves_chain(tmp_path, pebble, http_port):
    root = pebble.root_pem()
    started = time.monotonic()
    with server_for(tmp_path, pebble, http_port) as server:
        serial = wait_for_certificate(server, root)
        elapsed = time.monotonic() - started
        print(f"first certificate served {elapsed:.2f}s after start")
        with open_tls(server.https_port, client_context(root)) as tls:
            leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            status, headers, _ = exchange(tls, "/healthz")
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}
        root_subject = x509.load_pem_x509_certificate(root.encode()).subject
        # Only the root is trusted and it did not sign the leaf: the server sent the chain.
        assert leaf.issuer != root_subject
        assert status == 200
        assert headers["strict-transport-security"].startswith("max-age=")
        report = server.tls_status()
        assert "app.test" in report
        assert f"serial:       {serial}" in report
        assert "Pebble Intermediate" in report
        assert "last error:   none" in report
        assert server.terminate() == 0


def test_serve_http_redirects_but_not_challenges_and_refuses_old_tls(tmp_path, pebble, http_port):
    root = pebble.root_pem()
    with server_for(tmp_path, pebble, http_port) as server:
        wait_for_certificate(server, root)
        redirected = server.http("/api/items?limit=5")
        assert redirected.status_code == 308
        assert redirected.headers["location"] == (
            f"https://app.test:{server.https_port}/api/items?limit=5"
        )
        assert "strict-transport-security" not in redirected.headers
        assert server.http("/.well-known/acme-challenge/unknown-token").status_code == 404
        for version, accepted in ((ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True)):
            client = client_context(root)
            client.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer TLS 1.1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, on purpose
                client.maximum_version = client.minimum_version = version
            if accepted:
                open_tls(server.https_port, client).close()
            else:
                with pytest.raises(ssl.SSLError):
                    open_tls(server.https_port, client)


def test_serve_restart_with_ca_stopped_serves_cached_certificate(tmp_path, pebble, http_port):
    root = pebble.root_pem()
    with server_for(tmp_path, pebble, http_port) as server:
        serial = wait_for_certificate(server, root)
        assert server.terminate() == 0
    pebble.stop()
    with server_for(tmp_path, pebble, http_port) as restarted:
        # Served as soon as the port listens: no wait for the (stopped) CA.
        assert served_serial(restarted.https_port, root) == serial


def test_serve_with_corrupted_certificate_cache_orders_a_new_one(tmp_path, pebble, http_port):
    root = pebble.root_pem()
    with server_for(tmp_path, pebble, http_port) as server:
        first = wait_for_certificate(server, root)
        assert server.terminate() == 0
    cached = [
        path for path in (tmp_path / "data" / "tls").rglob("*.pem") if "account" not in path.name
    ]
    assert cached, "no cached certificate file found"
    for path in cached:
        path.write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    with server_for(tmp_path, pebble, http_port) as restarted:
        assert restarted.http("/healthz").status_code == 308  # HTTP serves throughout
        second = wait_for_certificate(restarted, root)
        assert second != first
        assert "ignoring unreadable certificate file" in restarted.log()
        assert "Traceback" not in restarted.log()
        assert restarted.terminate() == 0


def test_serve_renews_and_swaps_without_dropping_connections(tmp_path, start_pebble, http_port):
    pebble = start_pebble(validity_seconds=12)  # renewal due 8 s after issuance
    root = pebble.root_pem()
    with server_for(tmp_path, pebble, http_port) as server:
        first = wait_for_certificate(server, root)
        with open_tls(server.https_port, client_context(root)) as before:
            assert serial_of(before) == first

            # Keep the old connection busy (uvicorn closes idle ones after 5 s) until a new
            # connection sees the renewed certificate.
            def renewed() -> bool:
                assert exchange(before, "/healthz")[0] == 200
                return served_serial(server.https_port, root) not in {first, None}

            wait_until(renewed, timeout=30, interval=0.5, what=f"renewal\n{server.log()}")
            assert exchange(before, "/healthz")[0] == 200
            assert serial_of(before) == first
        assert "certificate for app.test obtained" in server.log()


def test_serve_with_ca_unreachable_stays_up_and_reports(tmp_path, http_port):
    directory = f"https://127.0.0.1:{free_port()}/dir"
    args = acme_args(directory, None)
    server = HttpsServer(tmp_path / "data", http_port=http_port, tls_args=args)
    with server:
        wait_until(lambda: "CA unreachable" in server.tls_status(), what="the error in status")
        assert server.http("/").status_code == 308
        assert server.http("/.well-known/acme-challenge/abc").status_code == 404
        assert server.process.poll() is None
        assert server.log().count("CA unreachable") == 1  # one line, no traceback
        assert "Traceback" not in server.log()
        assert server.terminate() == 0


def test_serve_with_failing_challenge_stays_up_and_reports(tmp_path, start_pebble):
    pebble = start_pebble(http_port=free_port())  # validates a port nobody listens on
    with server_for(tmp_path, pebble, free_port()) as server:
        wait_until(
            lambda: "challenge failed: app.test" in server.tls_status(),
            what=f"the error in status\n{server.log()}",
        )
        assert server.http("/healthz").status_code == 308
        assert "next attempt" in server.tls_status()
        assert server.terminate() == 0


def test_serve_reads_failure_history_before_its_first_order(tmp_path, pebble, http_port):
    # A crash-looping predecessor failed five orders in the last ten minutes.
    now = datetime.now(UTC)
    failed = [now - timedelta(minutes=10 - 2 * n) for n in range(5)]
    store = CertificateStore(tmp_path / "data", pebble.directory)
    store.save_status(
        "app.test",
        CertificateStatus(
            last_error="challenge failed: app.test: connection refused",
            last_error_at=failed[-1].isoformat(),
            failed_orders=tuple(moment.isoformat() for moment in failed),
            consecutive_failures=5,
        ),
    )
    with server_for(tmp_path, pebble, http_port) as server:
        wait_until(lambda: "next order for app.test at" in server.log(), what=server.log())
        assert "5 failed orders in the last 60 minutes" in server.log()
        # Pebble would have issued at once: no order was even started.
        assert store.load_account_key() is None
        assert served_serial(server.https_port, pebble.root_pem()) is None
        assert store.load_status("app.test").failed_orders == tuple(m.isoformat() for m in failed)
        assert server.terminate() == 0


def test_serve_two_processes_one_orders_both_serve(tmp_path, pebble, http_port):
    root = pebble.root_pem()
    # Pebble validates on the first process's port; either process may own the order.
    with (
        server_for(tmp_path, pebble, http_port) as first,
        server_for(tmp_path, pebble, free_port()) as second,
    ):
        serial = wait_for_certificate(first, root)
        wait_until(lambda: served_serial(second.https_port, root) == serial, what="pick-up")
        orders = first.log().count("obtained") + second.log().count("obtained")
        assert orders == 1


def test_serve_with_own_certificate_needs_no_ca(tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("app.test")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with HttpsServer(tmp_path / "data", http_port=free_port(), tls_args=args) as server:
        root = ca.cert_pem.bytes().decode()
        assert served_serial(server.https_port, root) == format(
            x509.load_pem_x509_certificate(cert.read_bytes()).serial_number, "x"
        )
        assert server.http("/").headers["location"] == f"https://app.test:{server.https_port}/"
        assert "next renewal: never" in server.tls_status()


def test_serve_with_workers_orders_once_and_every_worker_serves_it(tmp_path, pebble, http_port):
    root = pebble.root_pem()
    args = [*acme_args(pebble.directory, pebble.ca_file), "--workers", "2"]
    with HttpsServer(tmp_path / "data", http_port=http_port, tls_args=args) as server:
        serial = wait_for_certificate(server, root)
        loaded = f"serving certificate for app.test: serial {serial}"
        wait_until(lambda: server.log().count(loaded) == 2, what="both workers to load it")
        # New connections land on either worker; every one presents the certificate.
        assert all(served_serial(server.https_port, root) == serial for _ in range(40))
        assert server.log().count("obtained") == 1
        assert server.terminate() == 0


def json_error(response: httpx.Response) -> str:
    """The code of a body in the project's error shape."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return body["error"]["code"]


def test_serve_with_own_certificate_redirects_only_to_its_names(tmp_path):
    issued = issue(tmp_path / "cert", "app.test", "www.app.test")
    with HttpsServer(tmp_path / "data", http_port=free_port(), tls_args=issued.tls_args) as server:
        base = f"https://{{}}:{server.https_port}"
        kept = server.http("/a?b=1", host="WWW.app.test")
        assert kept.status_code == 308
        assert kept.headers["location"] == base.format("www.app.test") + "/a?b=1"
        assert json_error(kept) == "https_required"
        for host in ("evil.example", "evil.example:80", "app.test.evil.example", "[::1]"):
            moved = server.http("/a?b=1", host=host)
            assert moved.status_code == 308
            assert moved.headers["location"] == base.format("app.test") + "/a?b=1"
            assert "evil" not in moved.text
        # HTTP/1.0 may leave out Host: the first name of the certificate.
        status, headers, body = split_response(
            raw_exchange(server.http_port, b"GET /x HTTP/1.0\r\n\r\n")
        )
        assert status == 308
        assert headers["location"] == base.format("app.test") + "/x"
        assert headers["content-type"] == "application/json"
        assert b'"https_required"' in body
        unknown = server.http("/.well-known/acme-challenge/unknown-token")
        assert unknown.status_code == 404
        assert json_error(unknown) == "no_such_challenge"
        # A WebSocket handshake gets a JSON answer too, not a bare server error: the
        # redirect, or the server's own refusal of WebSockets where it has one.
        upgrade = (
            b"GET /ws HTTP/1.1\r\nHost: evil.example\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        status, headers, body = split_response(raw_exchange(server.http_port, upgrade))
        assert status in {308, 400}
        assert headers["content-type"] == "application/json"
        assert set(json.loads(body)["error"]) == {"code", "message"}
        assert headers.get("location", base.format("app.test") + "/ws") == (
            base.format("app.test") + "/ws"
        )


def test_serve_with_own_certificate_without_dns_names_refuses_to_redirect(tmp_path):
    issued = issue(tmp_path / "cert", ips=("127.0.0.1",))
    with HttpsServer(tmp_path / "data", http_port=free_port(), tls_args=issued.tls_args) as server:
        for host in ("evil.example", "127.0.0.1"):
            response = server.http("/api/items", host=host)
            assert response.status_code == 421
            assert "location" not in response.headers
            assert json_error(response) == "no_https_name"
        status, headers, body = split_response(
            raw_exchange(server.http_port, b"GET / HTTP/1.0\r\n\r\n")
        )
        assert status == 421
        assert "location" not in headers
        assert b'"no_https_name"' in body
        assert server.terminate() == 0
