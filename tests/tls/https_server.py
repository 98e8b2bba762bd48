"""A real ``onebin serve --domain app.test`` process with HTTPS, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.support import ONEBIN, free_port, wait_until


def acme_args(directory: str, ca_file: Path | None) -> list[str]:
    args = ["--domain", "app.test", "--acme-directory", directory]
    return [*args, "--acme-ca-file", str(ca_file)] if ca_file else args


class HttpsServer:
    def __init__(
        self,
        data_dir: Path,
        *,
        http_port: int,
        tls_args: list[str],
        command: Sequence[str] = ONEBIN,
    ) -> None:
        """``tls_args`` are the HTTPS flags: ``--domain``/``--acme-*`` or ``--tls-*``."""
        self.command = list(command)
        self.data_dir = data_dir
        self.http_port = http_port
        self.https_port = free_port()
        self.tls_args = tls_args
        self.log_path = data_dir.parent / f"server-{self.https_port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> HttpsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *self.command,
                "serve",
                "--data-dir", str(self.data_dir),
                # Tests talk to loopback only; --domain alone would listen everywhere.
                "--host", "127.0.0.1",
                "--http-port", str(self.http_port),
                "--https-port", str(self.https_port),
                *self.tls_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("ONEBIN_")},
        )  # fmt: skip
        log.close()
        wait_until(self.listening, what=f"onebin HTTP port :{self.http_port}")
        return self

    def listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
        try:
            self.http("/healthz")
        except httpx.TransportError:
            return False
        return True

    def http(self, path: str, host: str = "app.test") -> httpx.Response:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        return httpx.get(url, headers={"host": host}, timeout=5)

    def tls_status(self) -> str:
        result = subprocess.run(
            [*ONEBIN, "tls", "status", "--data-dir", str(self.data_dir), *self.tls_args],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> HttpsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def open_tls(port: int, context: ssl.SSLContext, name: str = "app.test") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname=name)


def exchange(tls: ssl.SSLSocket, path: str) -> tuple[int, dict[str, str], bytes]:
    """One keep-alive HTTP/1.1 request on an open TLS connection."""
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: app.test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        assert chunk, "connection closed before the response headers"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = tls.recv(65536)
        assert chunk, "connection closed before the response body"
        body += chunk
    return int(status_line.split()[1]), headers, body
