"""Helpers shared by tests that run the real ``onebin`` command as a process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

import httpx

from onebin import __version__
from onebin.versions import version_line

ONEBIN = [sys.executable, "-m", "onebin"]
# The runtime's versions, as onebin.versions reads them, printed by another interpreter.
_RUNTIME = (
    "import json, platform, sqlite3, ssl; print(json.dumps("
    "{'python': platform.python_version(), 'sqlite': sqlite3.sqlite_version,"
    " 'openssl': ssl.OPENSSL_VERSION}))"
)


def expected_version(python: str, name: str, version: str) -> str:
    """The ``--version`` line of the app ``name`` run by the interpreter ``python``.

    An artifact reports the libraries of the interpreter that runs it: the build's for
    the executable, the system's for a zipapp under ``/usr/bin/python3``.
    """
    runtime = subprocess.run(
        [python, "-c", _RUNTIME], capture_output=True, text=True, check=True, timeout=60
    )
    app = {"name": name, "version": version}
    return version_line({"onebin": __version__, "app": app, **json.loads(runtime.stdout)})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float = 15.0, interval: float = 0.02, what: str = "") -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def make_token(
    data_dir: Path, name: str = "test", *, command: Sequence[str] = ONEBIN, **run_options
) -> str:
    result = subprocess.run(
        [*command, "token", "create", "--name", name, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        **run_options,
    )
    return result.stdout.strip()


class ServerProcess:
    """A real ``onebin serve`` process on a free port, for tests that need one.

    ``command`` is what runs onebin: this checkout by default, or a built artifact;
    ``env`` then replaces the environment entirely (``inherit_env=False``) so the
    artifact sees nothing of the test's virtualenv.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        command: Sequence[str] = ONEBIN,
        cwd: Path | None = None,
        inherit_env: bool = True,
        start_timeout: float = 15.0,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.env = {**(os.environ if inherit_env else {}), **(env or {})}
        self.command = tuple(command)
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)  # onebin makes data_dir
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *self.command,
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            preexec_fn=self.preexec_fn,  # only resource limits, set by tests
        )
        log.close()
        wait_until(
            self.healthy,
            timeout=self.start_timeout,
            what=f"onebin on :{self.port} to answer /healthz",
        )
        return self

    def token(self, name: str = "test") -> str:
        return make_token(
            self.data_dir, name, command=self.command, cwd=self.cwd, env=self.env, timeout=120
        )

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no checkpoint, like a crash or the OOM killer."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def raw_exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """Read one response with a Content-Length body (or until close) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    _, headers, body = split_response(data)
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return data.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


class Daemon:
    """A tool the tests run in the background (HAProxy, Prometheus): its process, its
    log file, and a stop that always ends it, gently first."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
