"""Hostile HTTP at the protocol level, against a real server process."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebin.server.listen import LINGERING_DESCRIPTORS, RESERVED_DESCRIPTORS
from onebin.server.protocol import Refusal, check_request_head
from tests.support import ServerProcess, raw_exchange, read_response, split_response

POST_HEAD = b"POST /api/items HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("protocol") / "data"
    args = ("--header-timeout", "1", "--body-timeout", "1", "--max-connections", "200")
    # One address opens all the sockets here: its own cap must not hide the global one.
    args += ("--max-client-connections", "20000")
    with ServerProcess(data_dir, extra_args=args) as running:
        yield running


def assert_json_refusal(raw: bytes, status: int, code: str) -> None:
    got_status, headers, body = split_response(raw)
    assert got_status == status, raw[:300]
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == code


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ([(b"host", b"example.com")], "1.1"),
        ([(b"host", b"127.0.0.1:8000")], "1.1"),
        ([(b"host", b"[::1]:443")], "1.1"),
        ([], "1.0"),
        ([(b"host", b"a.test"), (b"transfer-encoding", b"chunked")], "1.1"),
    ],
)
def test_check_request_head_accepts_ordinary_heads(headers, version):
    check_request_head(headers, version)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ([], "invalid_host"),
        ([(b"host", b"a.test"), (b"host", b"b.test")], "invalid_host"),
        ([(b"host", b"a b")], "invalid_host"),
        ([(b"host", b"a.test/evil")], "invalid_host"),
        ([(b"host", b"a.test:99999999")], "invalid_host"),
        ([(b"host", b"a.test"), (b"transfer-encoding", b"gzip, chunked")], "bad_transfer_encoding"),
        (
            [
                (b"host", b"a.test"),
                (b"transfer-encoding", b"chunked"),
                (b"transfer-encoding", b"chunked"),
            ],
            "bad_transfer_encoding",
        ),
    ],
)
def test_check_request_head_refuses_ambiguous_heads(headers, code):
    with pytest.raises(Refusal) as refused:
        check_request_head(headers, "1.1")
    assert refused.value.code == code


@pytest.mark.parametrize(
    "request_bytes",
    [
        POST_HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        POST_HEAD + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        b"GARBAGE\r\n\r\n",
    ],
)
def test_smuggling_shapes_are_refused_with_json_400(server, request_bytes):
    assert_json_refusal(raw_exchange(server.port, request_bytes), 400, "bad_request")


def test_malformed_requests_do_not_flood_the_log(tmp_path):
    with ServerProcess(tmp_path / "data") as server:
        for _ in range(30):
            raw_exchange(server.port, b"GARBAGE\r\n\r\n")
        log = server.log()
    assert log.count("Invalid HTTP request received.") == 1


def test_unknown_transfer_coding_is_refused(server):
    raw = raw_exchange(
        server.port,
        b"POST /api/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    )
    assert_json_refusal(raw, 400, "bad_transfer_encoding")


def test_invalid_or_missing_host_is_refused(server):
    assert_json_refusal(
        raw_exchange(server.port, b"GET /api/items HTTP/1.1\r\nHost: a b/c\r\n\r\n"),
        400,
        "invalid_host",
    )
    assert_json_refusal(
        raw_exchange(server.port, b"GET /api/items HTTP/1.1\r\n\r\n"), 400, "invalid_host"
    )


def test_oversized_headers_get_431(server):
    big = b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    assert_json_refusal(raw_exchange(server.port, big), 431, "headers_too_large")


def test_many_tiny_headers_are_refused_early_and_the_answer_arrives(server):
    """65,000 empty headers (4 bytes each on the wire) passed the size cap, and each
    such request held the event loop for 64 ms; they get a 431 after the 100th header,
    which the client reads even though it is still sending."""
    head = b"GET /api/items HTTP/1.1\r\nHost: x\r\n" + b"a:\r\n" * 65_000 + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head[: 64 * 1024])  # the server answers while this is in flight
        sock.settimeout(10)
        response = read_response(sock)
    assert_json_refusal(response, 431, "too_many_headers")


def test_a_hundred_headers_are_fine(server):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: v\r\n" % n
        for n in range(98)  # with Host and Connection: 100
    )
    raw = raw_exchange(server.port, head + b"Connection: close\r\n\r\n")
    assert split_response(raw)[0] == 200


def test_oversized_url_gets_4xx(server):
    raw = raw_exchange(
        server.port, b"GET /api/items?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert 400 <= split_response(raw)[0] < 500


def test_incomplete_headers_get_json_408_after_the_header_timeout(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        response = read_response(sock)
        assert time.monotonic() - started < 5
    assert_json_refusal(response, 408, "header_timeout")


def test_slowloris_dripping_headers_is_cut_off(server):
    """Each header line resets nothing: the timeout bounds the whole head."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        sock.settimeout(0.3)
        cut_off = False
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"X-Drip: 1\r\n")
                sock.recv(4096)  # the 408, or the close: either way the server ended it
            except TimeoutError:
                continue  # still open: keep dripping
            except OSError:
                pass  # reset while we were still sending
            cut_off = True
            break
        elapsed = time.monotonic() - started
    assert cut_off
    assert elapsed < 5, "a client dripping headers held the connection past the header timeout"


def test_slow_body_is_cut_off_with_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na'
        )
        sock.settimeout(8)
        response = read_response(sock)
    # Auth is checked before the body is read, so this proves the server did not
    # wait for the body at all; a token-holder's slow body is covered below.
    assert split_response(response)[0] == 401


def test_slow_body_from_authorised_client_gets_408(tmp_path):
    from tests.support import make_token

    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    with ServerProcess(data_dir, extra_args=("--body-timeout", "1")) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + token.encode()
                + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na'
            )
            sock.settimeout(8)
            started = time.monotonic()
            response = read_response(sock)
            assert time.monotonic() - started < 5
        status, _, body = split_response(response)
        assert status == 408
        assert json.loads(body)["error"]["code"] == "body_timeout"
        assert httpx.get(f"{server.url}/api/items").json()["items"] == []


def test_ten_thousand_idle_connections_are_capped_and_server_recovers(server):
    """Over the cap a connection gets 503 at once; under it, 408 after the header
    timeout; the server never holds more sockets than the cap, and serves after."""
    fd_dir = f"/proc/{server.process.pid}/fd"
    sockets = []
    answers = {503: 0, 408: 0, "reset": 0}
    most_fds = 0
    try:
        for _ in range(10_000):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            sockets.append(sock)
        pending = list(sockets)
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            most_fds = max(most_fds, len(os.listdir(fd_dir)))
            still = []
            for sock in pending:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    still.append(sock)
                    continue
                except OSError:
                    answers["reset"] += 1
                    continue
                status = split_response(data)[0] if data else None
                answers[status if status in answers else "reset"] += 1
            pending = still
            time.sleep(0.05)
        assert not pending, f"{len(pending)} idle connections were still held after 60 s"
        assert answers[503] > 5_000, answers
        assert answers[408] >= 200, answers
        bound = 200 + RESERVED_DESCRIPTORS + LINGERING_DESCRIPTORS
        assert most_fds < bound, f"server held {most_fds} file descriptors"
        assert server.process.poll() is None
    finally:
        for sock in sockets:
            sock.close()
    response = httpx.get(f"{server.url}/api/items", timeout=10)
    assert response.status_code == 200


def closed_within(sock: socket.socket, seconds: float, *, drip: bytes = b"") -> bytes | None:
    """What the server sent before closing, if it closed within ``seconds`` (dripping
    ``drip`` every 0.2 s meanwhile); None if the connection was still open."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if drip:
                sock.sendall(drip)
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # reset while we were still sending: closed
            return received
        if not chunk:
            return received
        received += chunk
    return None


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n12 bytes....",
        b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n12 bytes....",
        POST_HEAD + b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na',
        POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nabc",
    ],
    ids=["healthz", "static-file", "refused-write", "chunked"],
)
def test_a_body_that_never_finishes_is_cut_off_on_every_path(server, head):
    """The handler answering without reading the body used to leave the connection
    open for as long as the client trickled bytes (240 s seen)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        sent = closed_within(sock, 6, drip=b"x")
    assert sent is not None, "the connection was still open 6 s after a 1 s body timeout"
    assert sent.startswith(b"HTTP/1.1 ")  # answered (200, 401 or 408), then closed


def test_blank_lines_between_requests_do_not_hold_a_connection(server):
    """Each byte reset uvicorn's keep-alive timer; the head deadline still applies."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(sock)
        assert split_response(first)[0] == 200
        assert closed_within(sock, 6, drip=b"\r\n") is not None


def test_websocket_upgrade_is_refused_with_json_400(server):
    raw = raw_exchange(
        server.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert_json_refusal(raw, 400, "websocket_not_supported")


def test_an_upgrade_onebin_does_not_speak_is_answered_as_http_1_1(server):
    raw = raw_exchange(
        server.port,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
    )
    status, _, body = split_response(raw)
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_a_trailing_slash_never_redirects_to_the_host_header(server):
    raw = raw_exchange(server.port, b"GET /api/items/ HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    status, headers, _ = split_response(raw)
    assert status == 404
    assert "location" not in headers
    assert b"evil.example" not in raw


header_bytes = st.binary(max_size=64)
header_names = st.sampled_from([b"host", b"transfer-encoding", b"content-length", b"x-other"])


@given(st.lists(st.tuples(header_names, header_bytes), max_size=8), st.sampled_from(["1.0", "1.1"]))
def test_check_request_head_only_ever_refuses_cleanly(headers, version):
    """Any head either passes or is refused with a 400 Refusal; nothing else escapes."""
    refused = None
    try:
        check_request_head(headers, version)
    except Refusal as refusal:
        refused = refusal
    if refused is not None:
        assert refused.status == 400
        assert refused.message
