"""A Server-Sent Events subscriber for tests: reads a real stream on a thread."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any

import httpx

from tests.support import wait_until


class Subscription:
    """``GET /api/events`` held open; ``events`` fills as messages arrive."""

    def __init__(self, base_url: str, last_id: int | None = None, path: str = "/api/events"):
        self.url = base_url + path
        self.headers = {} if last_id is None else {"last-event-id": str(last_id)}
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.status: int | None = None
        self.opened = threading.Event()
        self.ended = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Subscription:
        self._thread.start()
        assert self.opened.wait(15), "the stream did not open"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Hangs up, as a closed browser tab does, and waits for the reader to stop."""
        if self._response is not None:
            sock = self._response.extensions["network_stream"].get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the stream did not close"

    @property
    def ids(self) -> list[int]:
        return [event["id"] for event in self.events]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first ``count`` events, once they came."""
        wait_until(lambda: len(self.events) >= count, timeout=timeout, what=f"{count} events")
        return self.events[:count]

    def _read(self) -> None:
        try:
            with httpx.stream("GET", self.url, headers=self.headers, timeout=None) as response:
                self._response = response
                self.status = response.status_code
                self.opened.set()
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        data.append(line[6:])
                    elif line.startswith(":"):
                        self.comments.append(line)
                    elif line == "" and data:
                        self.events.append(json.loads("\n".join(data)))
                        data = []
        except (httpx.HTTPError, RuntimeError, OSError):
            pass  # closed by close(), the server, or a kill
        finally:
            self.opened.set()
            self.ended.set()
