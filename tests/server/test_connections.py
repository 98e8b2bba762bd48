"""Connection exhaustion, against real server processes: per-client caps, the open-files
limit, TLS handshakes that never finish, and a keep-alive flood.

Clients on other addresses are real: every 127.0.0.0/8 address reaches the loopback
interface, so binding a client socket to 127.0.0.2 makes it a different client.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from onebin.server.connections import ConnectionLimits, ConnectionRegistry, Refused
from tests.support import ServerProcess, free_port, read_response, split_response, wait_until
from tests.tls.certificates import issue
from tests.tls.https_server import HttpsServer

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def connect_from(address: str, port: int, *, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def get_from(address: str, port: int, path: str = "/healthz") -> tuple[int, dict, bytes]:
    with connect_from(address, port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return split_response(read_response(sock))


def descriptors(server: ServerProcess) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def test_registry_caps_clients_and_the_total():
    registry = ConnectionRegistry(
        ConnectionLimits(total=5, per_client=2), exempt=lambda a: a == "10.0.0.9"
    )
    keys = [registry.admit("192.0.2.1"), registry.admit("192.0.2.1")]
    with pytest.raises(Refused, match="your address"):
        registry.admit("192.0.2.1")
    # An IPv6 client is its /64: rotating the host part does not help.
    registry.admit("2001:db8:1:2::1")
    registry.admit("2001:db8:1:2::ffff")
    with pytest.raises(Refused):
        registry.admit("2001:db8:1:2:abcd::1")
    registry.admit("10.0.0.9")  # a trusted proxy carries many clients
    with pytest.raises(Refused, match="connection limit"):
        registry.admit("198.51.100.7")  # the total
    registry.release(keys[0])
    assert registry.admit("192.0.2.1") == keys[0]


def test_one_address_cannot_take_every_connection(tmp_path):
    """1,030 idle sockets from one address once refused 36 of 56 other clients."""
    args = ("--max-client-connections", "50", "--header-timeout", "30")
    with ServerProcess(tmp_path / "data", extra_args=args) as server:
        hog = []
        try:
            for _ in range(300):
                hog.append(connect_from("127.0.0.2", server.port))
            refused = 0
            for sock in hog[50:]:
                status, _, body = split_response(read_response(sock))
                assert status == 503
                assert json.loads(body)["error"]["code"] == "too_many_client_connections"
                refused += 1
            assert refused == 250
            for other in range(3, 60):  # 57 other clients are all served
                status, _, _ = get_from(f"127.0.0.{other}", server.port)
                assert status == 200
        finally:
            for sock in hog:
                sock.close()
        assert "reached its cap of 50 open connections" in server.log()


def test_the_cap_follows_a_low_open_files_limit_and_others_are_served(tmp_path):
    """systemd's soft limit of 1,024 once made every request wait silently: at start
    the soft limit is raised to the hard one, and the cap derived from it."""

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))

    server = ServerProcess(
        tmp_path / "data", extra_args=("--header-timeout", "60"), preexec_fn=low_limit
    ).start()
    idle = []
    try:
        for number in range(1100):  # 110 per address, under the per-client cap
            idle.append(connect_from(f"127.0.1.{number % 10 + 1}", server.port))
        served = sum(get_from(f"127.0.2.{n}", server.port)[0] == 200 for n in range(1, 76))
        assert served == 75
        assert "open-files limit 4096" in server.log()
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_connections_over_a_low_cap_are_refused_and_logged(tmp_path):
    args = ("--max-connections", "40", "--header-timeout", "60")
    with ServerProcess(tmp_path / "data", extra_args=args) as server:
        idle = [connect_from(f"127.0.3.{n % 20 + 1}", server.port) for n in range(40)]
        try:
            status, _, body = get_from("127.0.4.1", server.port)
            assert status == 503
            assert json.loads(body)["error"]["code"] == "too_many_connections"
        finally:
            for sock in idle:
                sock.close()
        assert "connection cap reached" in server.log()


@pytest.fixture
def https_server(tmp_path):
    issued = issue(tmp_path / "certs", "app.test")
    server = HttpsServer(
        tmp_path / "data",
        http_port=free_port(),
        tls_args=[*issued.tls_args, "--header-timeout", "2", "--max-client-connections", "20"],
    )
    with server:
        yield server, issued


def tls_client(issued) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=issued.ca_pem)


def test_tls_handshakes_that_never_finish_are_capped_and_timed_out(https_server):
    """5,000 handshake-less connections once sat past every cap for 60 s."""
    server, issued = https_server
    silent = [connect_from("127.0.5.1", server.https_port) for _ in range(20)]
    try:
        # Counted from the moment they were accepted: the 21st from that address is refused.
        extra = connect_from("127.0.5.1", server.https_port)
        with pytest.raises((ssl.SSLError, OSError)):
            tls_client(issued).wrap_socket(extra, server_hostname="app.test").do_handshake()
        # Another address still gets in.
        other = connect_from("127.0.5.2", server.https_port)
        with tls_client(issued).wrap_socket(other, server_hostname="app.test") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        # And the silent ones are closed once the handshake deadline (2 s) has passed.
        started = time.monotonic()
        for sock in silent:
            sock.settimeout(10)
            assert sock.recv(1) == b""
        assert time.monotonic() - started < 8
    finally:
        for sock in silent:
            sock.close()


def test_protocol_errors_on_https_are_json_with_hsts(https_server):
    server, issued = https_server
    raw = connect_from("127.0.5.3", server.https_port)
    with tls_client(issued).wrap_socket(raw, server_hostname="app.test") as tls:
        tls.sendall(b"GARBAGE\r\n\r\n")
        status, headers, body = split_response(read_response(tls))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert json.loads(body)["error"]["code"] == "bad_request"


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="needs Debian's wrk (make test installs it)"
)
def test_a_newcomer_is_answered_within_a_second_during_a_keep_alive_flood(tmp_path):
    """Under `wrk -c2000` a new client's /healthz once took 16-20 s."""
    with ServerProcess(tmp_path / "data") as server:
        flood = subprocess.Popen(
            ["wrk", "-t2", "-c2000", "-d20s", f"{server.url}/healthz"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: descriptors(server) > 100, timeout=20, what="the flood")
            # Newcomers, one after another for the next 12 s of the flood.
            worst, probes, end = 0.0, 0, time.monotonic() + 12
            while time.monotonic() < end:
                probes += 1
                started = time.monotonic()
                try:
                    status = get_from(f"127.0.6.{probes % 250 + 1}", server.port)[0]
                except OSError:  # includes a timeout (5 s): as bad as a hang
                    status = None
                worst = max(worst, time.monotonic() - started)
                assert status in (200, 503), f"probe {probes} got {status}"
            assert worst < 1.0, f"a newcomer waited {worst:.2f}s"
        finally:
            flood.terminate()
            flood.wait(timeout=30)
        # Once the flood's sockets are closed, its address is served again.
        wait_until(lambda: get_from("127.0.0.1", server.port)[0] == 200, what="recovery")


def test_connection_counts_are_given_back(tmp_path):
    """Thousands of short connections, TLS-less and refused alike, leave no count behind."""
    args = ("--max-client-connections", "5")
    with ServerProcess(tmp_path / "data", extra_args=args) as server:

        def churn() -> None:
            for _ in range(200):
                with contextlib.suppress(OSError):  # over the cap of 5: refused, fine
                    get_from("127.0.7.1", server.port)

        threads = [threading.Thread(target=churn) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        def five_at_once() -> bool:
            held = [connect_from("127.0.7.1", server.port) for _ in range(5)]
            try:
                for sock in held:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                return all(split_response(read_response(sock))[0] == 200 for sock in held)
            finally:
                for sock in held:
                    sock.close()

        # The last closes may take a moment to reach the server; a leak never would.
        wait_until(five_at_once, timeout=10, what="all five places free again")
