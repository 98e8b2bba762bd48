from __future__ import annotations

import socket

import pytest

from onebin.config import Settings
from onebin.server.listen import (
    AUTO_CONNECTIONS,
    LINGERING_DESCRIPTORS,
    RESERVED_DESCRIPTORS,
    bind,
    bind_all,
    connection_cap,
    url,
)

SPARE = RESERVED_DESCRIPTORS + LINGERING_DESCRIPTORS


def test_auto_cap_follows_the_open_files_limit():
    assert connection_cap(None, 1_048_576) == (AUTO_CONNECTIONS, None)
    assert connection_cap(None, 1024) == (1024 - SPARE, None)


def test_a_cap_above_the_limit_is_lowered_and_says_how_to_raise_it():
    cap, why = connection_cap(5000, 1024)
    assert cap == 1024 - SPARE
    assert why is not None
    assert "LimitNOFILE" in why
    assert connection_cap(200, 1024) == (200, None)


def connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return False
    return True


def test_a_domain_without_a_host_listens_on_every_address():
    """A CA must reach the server from outside: loopback would serve no one."""
    sockets = bind_all(Settings(domain=("app.test",), http_port=0, https_port=0))
    try:
        for sock in (sockets.http, sockets.https):
            assert sock is not None
            assert sock.getsockname()[0] in ("::", "0.0.0.0")
            # IPv4 clients reach it even when it is one IPv6 socket.
            assert connects("127.0.0.1", sock.getsockname()[1])
    finally:
        sockets.http.close()
        assert sockets.https is not None
        sockets.https.close()


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason="no dual-stack IPv6 here")
def test_every_address_is_one_socket_for_ipv6_and_ipv4():
    with bind("::", 0) as sock:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        assert connects("::1", sock.getsockname()[1])
        assert connects("127.0.0.1", sock.getsockname()[1])


def test_without_domain_or_host_only_loopback_listens():
    sockets = bind_all(Settings(port=0))
    with sockets.http as sock:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sockets.https is None


def test_url_names_the_bound_port_and_brackets_ipv6():
    with bind("127.0.0.1", 0) as sock:
        assert url("http", sock) == f"http://127.0.0.1:{sock.getsockname()[1]}"
    if socket.has_ipv6:
        with bind("::1", 0) as sock:
            assert url("https", sock) == f"https://[::1]:{sock.getsockname()[1]}"
