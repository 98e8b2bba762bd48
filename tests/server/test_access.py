"""The access log and request ids, against real ``onebin serve`` processes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.testclient import TestClient

from onebin.compose import build_app
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.server.access import (
    MAX_LOGGED_PATH,
    RequestRecord,
    observed,
    outcome,
    printable,
    request_id_from,
    valid_request_id,
)
from onebin.store.sqlite import SQLiteDatabase
from onebin.types import Scope
from tests.conftest import app_context
from tests.support import (
    ServerProcess,
    free_port,
    raw_exchange,
    read_response,
    split_response,
    wait_until,
)
from tests.tls.certificates import issue
from tests.tls.https_server import HttpsServer, open_tls

# An app that logs while it answers, fails on purpose, reads a body and streams events.
TALK_APP = """
import logging

from onebin import App, JsonResponse, read_json, resource

log = logging.getLogger("talkapp")


def routes(context):
    async def talk(request):
        log.warning("talking while answering")
        return JsonResponse({"said": True})

    # (a path of its own per test: repeats of one failure are counted, not logged)
    async def boom(request):
        raise RuntimeError("this route always fails")

    async def echo(request):
        log.info("reading a body")
        return JsonResponse(await read_json(request, dict, context.body_limits))

    async def events(request):
        return context.events.stream(request)

    return [
        resource("/talk", {"GET": talk}),
        resource("/boom/{kind}", {"GET": boom}),
        resource("/echo", {"POST": echo}),
        resource("/events", {"GET": events}),
    ]


app = App(name="talk", routes=routes)
"""

TEXT_ACCESS = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) INFO onebin\.access: "
    r"(?P<client>\S+) (?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) (?P<bytes>\d+) "
    r"(?P<ms>\d+\.\d)ms request_id=(?P<request_id>\S+)"
)
STABLE_KEYS = {"time", "level", "logger", "message"}
ACCESS_KEYS = {"client", "method", "path", "status", "bytes", "duration_ms", "request_id"}
NEW_ID = re.compile(r"[0-9a-f]{16}")


@pytest.fixture(scope="module")
def talk_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    code = tmp_path_factory.mktemp("talkapp")
    (code / "talkapp.py").write_text(TALK_APP)
    return {"PYTHONPATH": str(code), "ONEBIN_APP": "talkapp:app"}


def talk_server(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], *args: str
) -> ServerProcess:
    data_dir = tmp_path_factory.mktemp("access") / "data"
    return ServerProcess(data_dir, extra_args=("--body-timeout", "1", *args), env=env)


@pytest.fixture(scope="module")
def text_server(tmp_path_factory, talk_env) -> Iterator[ServerProcess]:
    with talk_server(tmp_path_factory, talk_env) as server:
        yield server


@pytest.fixture(scope="module")
def json_server(tmp_path_factory, talk_env) -> Iterator[ServerProcess]:
    with talk_server(tmp_path_factory, talk_env, "--log-format", "json") as server:
        yield server


@pytest.fixture(params=["text", "json"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    return request.getfixturevalue(f"{request.param}_server")


def json_lines(log: str) -> list[dict]:
    """Every line of the log as JSON; fails on the first line that is not."""
    return [json.loads(line) for line in log.splitlines()]


def access_records(server: ServerProcess | HttpsServer) -> list[dict]:
    """The access lines of ``server``'s log as dicts, whatever its format."""
    records = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            parsed = json.loads(line)
            if parsed["logger"] == "onebin.access":
                records.append(parsed)
        elif " onebin.access: " in line:
            match = TEXT_ACCESS.fullmatch(line)
            assert match, line
            record = match.groupdict()
            records.append(
                {
                    **record,
                    "status": int(record["status"]),
                    "bytes": int(record["bytes"]),
                    "duration_ms": float(record["ms"]),
                }
            )
    return records


def logged(server: ServerProcess | HttpsServer, *ids: str) -> dict[str, list[dict]]:
    """The access records of each request id in ``ids``, once each has one."""

    def by_id() -> dict[str, list[dict]]:
        records: dict[str, list[dict]] = {rid: [] for rid in ids}
        for record in access_records(server):
            if record["request_id"] in records:
                records[record["request_id"]].append(record)
        return records

    wait_until(lambda: all(by_id().values()), what=f"access lines for {ids}")
    return by_id()


def raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    raw = raw_exchange(port, head)
    status, headers, body = split_response(raw)
    return status, headers, body, raw


# Pure decisions


@pytest.mark.parametrize("value", [b"a", b"abc-123", b"req:1.2_3", b"A" * 128])
def test_a_well_formed_request_id_is_kept(value):
    assert valid_request_id(value) == value.decode()


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"A" * 129,
        b"two words",
        b'quote"d',
        b"semi;colon",
        b"abc\r\nSet-Cookie: evil=1",
        b"abc%0d%0aSet-Cookie:evil",
        b"line\nbreak",
        b"caf\xc3\xa9",
        b"<script>",
    ],
)
def test_a_malformed_request_id_is_refused(value):
    assert valid_request_id(value) is None


def test_a_request_keeps_its_first_id_or_gets_a_new_one():
    assert request_id_from([(b"host", b"x"), (b"x-request-id", b"mine")]) == "mine"
    replaced = request_id_from([(b"x-request-id", b"not mine"), (b"x-request-id", b"b")])
    fresh = request_id_from([(b"host", b"x")])
    assert NEW_ID.fullmatch(replaced)
    assert NEW_ID.fullmatch(fresh)
    assert replaced != fresh


def test_a_logged_path_cannot_break_or_bloat_a_line():
    assert printable(b"/api/items/12") == "/api/items/12"
    assert printable(b"/a\nINFO forged") == "/a\\x0aINFO\\x20forged"
    assert printable(b"/caf\xc3\xa9\x1b[31m") == "/caf\\xc3\\xa9\\x1b[31m"
    long = printable(b"/" + b"a" * 10_000)
    assert len(long) == MAX_LOGGED_PATH + 3
    assert long.endswith("a...")


def test_the_logged_status_is_what_the_client_got():
    assert outcome(201, 12, client_gone=False, error=None) == (201, 12)
    assert outcome(0, 0, client_gone=True, error=None) == (499, 0)
    assert outcome(200, 80, client_gone=True, error=None) == (499, 0)  # dropped, never sent
    assert outcome(0, 0, client_gone=False, error=TimeoutError()) == (500, 0)
    assert outcome(0, 0, client_gone=False, error=None) == (500, 0)
    cut = asyncio.CancelledError()
    assert outcome(0, 0, client_gone=False, error=cut) == (503, 0)
    assert outcome(200, 9, client_gone=False, error=None, refused=(408, 82)) == (408, 82)


# Observers, in-process on the real app


@pytest.fixture
def observed_client(settings: Settings, db: SQLiteDatabase):
    """The real app wrapped as a listener wraps it; the observers list to fill."""
    observers: list = []
    app = observed(
        build_app(app_context(settings, db), items_app), access_log=True, observers=observers
    )
    return TestClient(app, base_url="http://testserver"), observers


def test_observers_see_each_finished_request_once(observed_client):
    client, observers = observed_client
    seen: list[tuple[RequestRecord, Scope]] = []
    observers.append(lambda record, scope: seen.append((record, scope)))  # added after: counts
    answer = client.get("/api/items/7?secret=1", headers={"x-request-id": "seen-1"})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == "seen-1"
    [(record, scope)] = seen
    assert (record.request_id, record.method, record.path, record.status) == (
        "seen-1",
        "GET",
        "/api/items/7",
        404,
    )
    assert record.bytes == len(answer.content)
    assert record.client == "testclient"
    assert abs(record.started - time.time()) < 60
    assert 0 <= record.duration < 60
    assert scope["path"] == "/api/items/7"


def test_a_failing_observer_neither_breaks_requests_nor_floods_the_log(observed_client, caplog):
    client, observers = observed_client
    seen: list[RequestRecord] = []

    def broken(record: RequestRecord, scope: Scope) -> None:
        raise ValueError("observer bug")

    observers.extend([broken, lambda record, scope: seen.append(record)])
    with caplog.at_level(logging.ERROR, logger="onebin"):
        answers = [client.get("/healthz") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert len(seen) == 5  # the next observer still runs
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


# Against real servers


def test_each_request_is_one_access_line_with_its_fields(server):
    before = time.time()
    prefix = f"each-{'json' if '--log-format' in server.extra_args else 'text'}"
    secret = {"authorization": "Bearer hunter2-secret"}
    requests = [
        ("GET", "/healthz", {}, None),
        ("GET", "/talk?token=s3cret-in-query", secret, None),
        ("GET", "/not-here", {}, None),
        ("POST", "/echo", {}, {"a": 1}),
        ("HEAD", "/healthz", {}, None),
        ("GET", "/boom/each", {}, None),
    ]
    answers = {}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for number, (method, path, headers, body) in enumerate(requests):
            rid = f"{prefix}-{number}"
            headers = {"x-request-id": rid, **headers}
            answers[rid] = (method, path, client.request(method, path, headers=headers, json=body))
    records = logged(server, *answers)
    for rid, (method, path, answer) in answers.items():
        assert answer.headers["x-request-id"] == rid
        [record] = records[rid]
        assert record["client"] == "127.0.0.1"
        assert record["method"] == method
        assert record["path"] == path.partition("?")[0]  # never the query string
        assert record["status"] == answer.status_code
        assert record["bytes"] == len(answer.content)
        assert 0 <= record["duration_ms"] < 10_000
        at = datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before - 1 <= at.timestamp() <= time.time() + 1
    statuses = [record["status"] for rid in answers for record in records[rid]]
    assert statuses == [200, 200, 404, 200, 200, 500]
    prefixed = [r for r in access_records(server) if r["request_id"].startswith(prefix)]
    assert len(prefixed) == len(requests)
    log = server.log()
    assert "s3cret-in-query" not in log
    assert "hunter2" not in log


def test_every_json_line_is_one_object_with_the_stable_keys(json_server):
    httpx.get(f"{json_server.url}/boom/json", headers={"x-request-id": "json-boom"})
    logged(json_server, "json-boom")
    lines = json_lines(json_server.log())
    assert all(set(line) >= STABLE_KEYS for line in lines)
    assert any(
        line["logger"] == "uvicorn.error" and line["message"].startswith("Started server process")
        for line in lines
    )
    start = [line for line in lines if line["message"].startswith("onebin serving talk")]
    assert len(start) == 1
    assert "request_id" not in start[0]  # written outside any request
    for line in lines:
        if line["logger"] == "onebin.access":
            assert set(line) == STABLE_KEYS | ACCESS_KEYS
    [failure] = [
        line for line in lines if line.get("request_id") == "json-boom" and line["level"] == "ERROR"
    ]
    assert "RuntimeError: this route always fails" in failure["exception"]
    assert failure["exception"].startswith("Traceback")


def test_lines_written_while_answering_carry_the_request_id(server):
    rid = f"talk-{server.port}"
    answer = httpx.get(f"{server.url}/talk", headers={"x-request-id": rid})
    assert answer.status_code == 200
    logged(server, rid)
    lines = server.log().splitlines()
    if "--log-format" in server.extra_args:
        said = [json.loads(line) for line in lines if "talking while answering" in line]
        assert [(s["logger"], s["level"], s.get("request_id")) for s in said][-1] == (
            "talkapp",
            "WARNING",
            rid,
        )
    else:
        said = [line for line in lines if f"talking while answering request_id={rid}" in line]
        assert len(said) == 1
        assert " WARNING talkapp: " in said[0]


@pytest.mark.parametrize(
    "sent",
    [
        b"A" * 129,
        b"two words",
        b"abc%0d%0aSet-Cookie:evil=1",
        b"caf\xc3\xa9",
        b"x\tSet-Cookie: evil=1",
    ],
)
def test_a_malformed_request_id_is_replaced_in_the_answer_and_the_log(text_server, sent):
    head = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: "
        + sent
        + b"\r\nConnection: close\r\n\r\n"
    )
    status, headers, _, raw = raw_request(text_server.port, head)
    assert status == 200
    rid = headers["x-request-id"]
    assert NEW_ID.fullmatch(rid)
    assert raw.lower().count(b"x-request-id") == 1
    assert b"set-cookie" not in raw.lower()
    [record] = logged(text_server, rid)[rid]
    assert record["status"] == 200


def test_protocol_refusals_carry_a_request_id_and_are_logged(text_server):
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: too-big-1\r\nX-Big: " + b"a" * 70_000
    status, headers, _, _ = raw_request(text_server.port, big + b"\r\n\r\n")
    assert status == 431
    assert headers["x-request-id"] == "too-big-1"
    status, headers, body, _ = raw_request(text_server.port, b"GARBAGE\r\n\r\n")
    assert status == 400
    garbage = headers["x-request-id"]
    assert NEW_ID.fullmatch(garbage)
    records = logged(text_server, "too-big-1", garbage)
    [too_big] = records["too-big-1"]
    assert (too_big["method"], too_big["path"], too_big["status"]) == ("GET", "/healthz", 431)
    [bad] = records[garbage]
    assert (bad["status"], bad["bytes"]) == (400, len(body))


def test_a_request_cut_off_is_logged_once_with_what_the_client_got(text_server):
    head = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\nX-Request-ID: %s\r\n\r\n{"a"'
    )
    # The client leaves before its body is complete: 499, nothing sent.
    with socket.create_connection(("127.0.0.1", text_server.port)) as sock:
        sock.sendall(head % b"left-early")
    # The body stops coming: the protocol answers 408 after --body-timeout.
    status, headers, body, _ = raw_request(text_server.port, head % b"too-slow")
    assert (status, headers["x-request-id"]) == (408, "too-slow")
    records = logged(text_server, "left-early", "too-slow")
    assert [(r["status"], r["bytes"]) for r in records["left-early"]] == [(499, 0)]
    assert [(r["status"], r["bytes"]) for r in records["too-slow"]] == [(408, len(body))]


@pytest.mark.parametrize(
    "second",
    [
        b"GET /healthz HTTP/1.1\r\nX-Request-ID: second-%d\r\n\r\n",  # no Host: 400
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: second-%d\r\nX-Big: "
        + b"a" * 70_000
        + b"\r\n\r\n",  # 431
    ],
)
def test_a_refused_request_pipelined_behind_a_good_one_is_answered_after_it(text_server, second):
    """Answers go out in the order the requests came: the good one's first, then the
    refusal, and each is logged under its own id with what its client got."""
    number = len(second)
    first = b"GET /talk HTTP/1.1\r\nHost: x\r\nX-Request-ID: first-%d\r\n\r\n" % number
    raw = raw_exchange(text_server.port, first + second % number)
    status, headers, body = split_response(raw)
    assert (status, headers["x-request-id"]) == (200, f"first-{number}")
    length = int(headers["content-length"])
    rest = body[length:]
    status, headers, refusal = split_response(rest)
    assert status in (400, 431)
    assert headers["x-request-id"] == f"second-{number}"
    records = logged(text_server, f"first-{number}", f"second-{number}")
    assert [r["status"] for r in records[f"first-{number}"]] == [200]
    assert [(r["status"], r["bytes"]) for r in records[f"second-{number}"]] == [
        (status, len(refusal))
    ]


def test_a_bad_request_after_a_good_one_on_the_same_connection_is_answered(text_server):
    with socket.create_connection(("127.0.0.1", text_server.port), timeout=10) as sock:
        sock.sendall(b"GET /talk HTTP/1.1\r\nHost: x\r\n\r\n")
        assert split_response(read_response(sock))[0] == 200
        sock.sendall(b"GET /talk HTTP/1.1\r\nX-Request-ID: no-host\r\n\r\n")
        status, headers, _ = split_response(read_response(sock))
    assert (status, headers["x-request-id"]) == (400, "no-host")
    [record] = logged(text_server, "no-host")["no-host"]
    assert record["status"] == 400


def test_a_client_that_leaves_halfway_through_a_head_is_logged_as_gone(text_server):
    with socket.create_connection(("127.0.0.1", text_server.port)) as sock:
        sock.sendall(b"GET /talk HTTP/1.1\r\nHost: x\r\nX-Request-ID: half-head\r\nAccept:")
    [record] = logged(text_server, "half-head")["half-head"]
    assert (record["method"], record["path"], record["status"], record["bytes"]) == (
        "GET",
        "/talk",
        499,
        0,
    )


def test_an_event_stream_is_logged_when_it_ends(text_server):
    with httpx.stream(
        "GET", f"{text_server.url}/events", headers={"x-request-id": "stream-1"}, timeout=10
    ) as stream:
        assert stream.headers["x-request-id"] == "stream-1"
        chunks = stream.iter_raw()  # kept: dropping the iterator would close the stream
        first = next(chunks)
        assert not [r for r in access_records(text_server) if r["request_id"] == "stream-1"]
    [record] = logged(text_server, "stream-1")["stream-1"]
    assert (record["status"], record["bytes"]) == (200, len(first))


def test_with_the_access_log_off_ids_still_work(tmp_path_factory, talk_env):
    with talk_server(tmp_path_factory, talk_env, "--access-log", "off") as server:
        answer = httpx.get(f"{server.url}/talk", headers={"x-request-id": "quiet-1"})
        assert answer.headers["x-request-id"] == "quiet-1"
        fresh = httpx.get(f"{server.url}/healthz").headers["x-request-id"]
        assert NEW_ID.fullmatch(fresh)
        refused = raw_request(server.port, b"GARBAGE\r\n\r\n")
        assert NEW_ID.fullmatch(refused[1]["x-request-id"])
        assert "talking while answering request_id=quiet-1" in server.log()
        # One process, one request at a time: any access line of the requests before
        # is written by the time this one's own line is.
        httpx.get(f"{server.url}/talk", headers={"x-request-id": "quiet-2"})
        wait_until(
            lambda: "talking while answering request_id=quiet-2" in server.log(),
            what="the app's line",
        )
        assert "onebin.access" not in server.log()


def test_https_and_the_plain_http_port_beside_it_log_their_requests(tmp_path):
    issued = issue(tmp_path / "cert", "app.test")
    with HttpsServer(tmp_path / "data", http_port=free_port(), tls_args=issued.tls_args) as server:
        plain = f"http://127.0.0.1:{server.http_port}"
        for rid, path in [
            ("redirect-1", "/a?b=1"),
            ("challenge-1", "/.well-known/acme-challenge/x"),
        ]:
            answer = httpx.get(plain + path, headers={"host": "app.test", "x-request-id": rid})
            assert answer.headers["x-request-id"] == rid
        context = ssl.create_default_context(cafile=str(issued.ca))
        with open_tls(server.https_port, context) as tls:
            tls.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: app.test\r\nX-Request-ID: https-1\r\n"
                b"Connection: close\r\n\r\n"
            )
            raw = b"".join(iter(lambda: tls.recv(65536), b""))
        assert split_response(raw)[1]["x-request-id"] == "https-1"
        records = logged(server, "redirect-1", "challenge-1", "https-1")
        statuses = {
            rid: [(r["path"], r["status"]) for r in found] for rid, found in records.items()
        }
        assert statuses == {
            "redirect-1": [("/a", 308)],
            "challenge-1": [("/.well-known/acme-challenge/x", 404)],
            "https-1": [("/healthz", 200)],
        }


def test_each_request_is_logged_once_by_one_of_several_workers(tmp_path_factory, talk_env):
    with talk_server(tmp_path_factory, talk_env, "--workers", "2") as server:
        ids = [f"worker-{n}" for n in range(40)]
        for rid in ids:  # a connection each, for the kernel to spread between workers
            httpx.get(f"{server.url}/healthz", headers={"x-request-id": rid})
        records = logged(server, *ids)
        assert all(len(records[rid]) == 1 for rid in ids)
        assert (
            len([r for r in access_records(server) if r["request_id"].startswith("worker-")]) == 40
        )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_request_cut_by_shutdown_is_logged_with_its_503(tmp_path_factory, talk_env, workers):
    args = ("--graceful-timeout", "1", "--body-timeout", "30", "--workers", workers)
    server = talk_server(tmp_path_factory, talk_env, *args).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\nX-Request-ID: cut-1\r\n\r\n{"
            )
            wait_until(lambda: "reading a body request_id=cut-1" in server.log(), what="the POST")
            assert server.terminate() == 0  # the grace period ends with the body unfinished
            status, headers, _ = split_response(sock.recv(65536))
        assert (status, headers["x-request-id"]) == (503, "cut-1")
        [record] = [r for r in access_records(server) if r["request_id"] == "cut-1"]
        assert record["status"] == 503
    finally:
        server.stop()
