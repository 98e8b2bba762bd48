"""A real HTTP receiver of webhooks for tests: a threaded ``http.server`` on a free port.

It records every request it gets and answers by a plan: fail the first ``fail_first``
requests of each event with 500, always fail, or hold the very first request until
the test releases it (then answer 503: its sender is gone by then).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from onebin.webhooks.signing import verify


@dataclass(frozen=True)
class Request:
    """One request as received, and the status the receiver answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    received: float  # the receiver's wall time, for signature checks

    @property
    def event_id(self) -> int:
        return int(self.headers["onebin-event-id"])

    @property
    def event(self) -> dict[str, Any]:
        return msgspec.json.decode(self.body)

    def signed_by(self, secret: str) -> bool:
        return verify(
            secret,
            self.headers["onebin-signature"],
            self.headers["onebin-timestamp"],
            self.body,
            now=self.received,
        )


class Receiver:
    """``with Receiver(...) as receiver``: ``receiver.url`` takes POSTs on ``/hook``."""

    def __init__(
        self,
        *,
        fail_first: int = 0,
        always_fail: bool = False,
        hold_first: bool = False,
        success: int = 200,
    ) -> None:
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.hold_first = hold_first
        self.success = success
        self.requests: list[Request] = []
        self.holding = threading.Event()  # the held request has arrived
        self.release = threading.Event()  # the test lets it go
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._plan(headers)
                if status is None:  # held: the sender is killed meanwhile
                    receiver.holding.set()
                    receiver.release.wait(timeout=60)
                    status = 503
                with receiver._lock:
                    receiver.requests.append(Request(self.path, headers, body, status, time.time()))
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender went away (killed while we held it)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _plan(self, headers: dict[str, str]) -> int | None:
        with self._lock:
            event = headers.get("onebin-event-id", "?")
            count = self._seen[event] = self._seen.get(event, 0) + 1
            if self.hold_first and sum(self._seen.values()) == 1:
                return None
        if self.always_fail or count <= self.fail_first:
            return 500
        return self.success

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def all(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
