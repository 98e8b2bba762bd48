"""Graceful shutdown of real servers: in-flight uploads finish, late ones get a JSON 503.

systemd stops a service by signalling every process of it, so these tests start
the server in a session of its own and send SIGTERM to the whole process group:
the supervisor and each worker hear it at once, and the workers hear it again
from the supervisor. A repeated SIGTERM must never cut the grace period short.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.processes import wait_for_workers, workers_of
from tests.support import ServerProcess, make_token, read_response, split_response, wait_until


def upload_head(port: int, token: str, body: bytes) -> bytes:
    return (
        f"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()


def server_side(client: socket.socket, port: int) -> tuple[int, int] | None:
    """(unread bytes, socket inode) of the server's end of ``client``'s connection."""
    local = f"0100007F:{client.getsockname()[1]:04X}"
    remote = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == remote and fields[2] == local:
            return int(fields[4].split(":")[1], 16), int(fields[9])
    return None


def holder_of(inode: int, pids: set[int]) -> int | None:
    """Which of ``pids`` has the socket ``inode`` open (accepted it)."""
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    return None


def read_by_a_worker(client: socket.socket, port: int, workers: set[int]) -> int | None:
    """The worker that accepted ``client`` and read everything sent so far, if one has."""
    found = server_side(client, port)
    if found is None or found[0] != 0 or found[1] == 0:  # inode 0: still in the backlog
        return None
    return holder_of(found[1], workers)


def pending(pid: int, sig: int) -> bool:
    """Whether ``sig`` was sent to ``pid`` and not delivered yet.

    A worker with no upload to wait for may finish its shutdown and be gone before
    this looks: a process that no longer exists has nothing pending.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return False
    masks = [int(line.split()[1], 16) for line in status if line.startswith(("SigPnd", "ShdPnd"))]
    return any(mask & (1 << (sig - 1)) for mask in masks)


def serving_processes(server: ServerProcess) -> set[int]:
    """The workers, or the server itself when it runs without a supervisor."""
    return workers_of(server.process.pid) or {server.process.pid}


@dataclass
class Upload:
    sock: socket.socket
    rest: bytes  # the half of the body not sent yet
    worker: int = 0  # the process that accepted it, once it has read the first half


@contextmanager
def half_sent_uploads(server: ServerProcess, token: str, count: int) -> Iterator[list[Upload]]:
    """``count`` uploads whose head and first half of the body a worker has read."""
    serving = serving_processes(server)
    with ExitStack() as stack:
        uploads = []
        for number in range(count):
            body = json.dumps({"name": f"upload-{number}", "description": "x" * 4000}).encode()
            half = len(body) // 2
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            sock.settimeout(20)
            sock.sendall(upload_head(server.port, token, body) + body[:half])
            uploads.append(Upload(sock, body[half:]))

        def all_read() -> bool:
            for upload in uploads:
                upload.worker = read_by_a_worker(upload.sock, server.port, serving) or 0
            return all(upload.worker for upload in uploads)

        wait_until(all_read, what="every upload's head and half body read by a worker")
        yield uploads


def start_in_own_group(data_dir: Path, workers: int, *args: str) -> ServerProcess:
    """A server in a new session, so ``killpg`` reaches it and its workers, not pytest."""
    args = ("--workers", str(workers), *args)
    server = ServerProcess(data_dir, extra_args=args, preexec_fn=os.setsid).start()
    if workers > 1:
        wait_for_workers(server, workers)
    return server


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_to_the_process_group_lets_inflight_uploads_finish(tmp_path, workers):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = start_in_own_group(data_dir, workers)
    try:
        serving = serving_processes(server)
        with half_sent_uploads(server, token, 4) as uploads:
            os.killpg(server.process.pid, signal.SIGTERM)
            wait_until(
                lambda: server.log().count("INFO uvicorn.error: Shutting down") == len(serving),
                what="every worker to begin its shutdown",
            )
            # The supervisor's SIGTERM may reach a worker together with systemd's (and
            # merge with it) or apart; systemd may repeat its own. A repeated SIGTERM,
            # certainly apart here, must change nothing.
            for pid in serving:
                os.kill(pid, signal.SIGTERM)
            wait_until(
                lambda: not any(pending(pid, signal.SIGTERM) for pid in serving),
                what="the repeated SIGTERM delivered",
            )
            # Every worker with an upload is past the first moments of its shutdown and
            # waits for its connections.
            draining = len({upload.worker for upload in uploads})
            wait_until(
                lambda: server.log().count("Waiting for connections to close") >= draining,
                what="the workers to wait for their uploads (not forced out by the repeat)",
            )
            for upload in uploads:
                upload.sock.sendall(upload.rest)
            answers = [split_response(read_response(upload.sock)) for upload in uploads]
        assert [status for status, _, _ in answers] == [201] * len(uploads), answers
        assert server.process.wait(timeout=20) == 0
    finally:
        server.stop()
    conn = sqlite3.connect(data_dir / "onebin.sqlite3")
    names = {row[0] for row in conn.execute("SELECT name FROM items")}
    conn.close()
    assert names == {f"upload-{number}" for number in range(len(uploads))}


@pytest.mark.parametrize("workers", [1, 2])
def test_an_upload_unfinished_when_the_grace_period_ends_gets_a_json_503(tmp_path, workers):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    server = start_in_own_group(data_dir, workers, "--graceful-timeout", "1")
    try:
        with half_sent_uploads(server, token, 2) as uploads:
            os.killpg(server.process.pid, signal.SIGTERM)
            answers = [split_response(read_response(upload.sock)) for upload in uploads]
        for status, headers, body in answers:
            assert status == 503, (status, body)
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["error"]["code"] == "shutting_down"
        assert server.process.wait(timeout=20) == 0
    finally:
        server.stop()
