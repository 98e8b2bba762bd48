"""Load drivers shared by the reliability tests and ``bench/soak.py``.

Plain threads with one ``httpx.Client`` each: the server runs in another process,
so the client side only needs to keep several requests in flight, record what was
acknowledged and time each request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class WriterLog:
    """What the server acknowledged: ids and names of items it answered 201 for."""

    acknowledged: dict[int, str] = field(default_factory=dict)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, item_id: int, name: str) -> None:
        with self.lock:
            self.acknowledged[item_id] = name

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def run_writers(
    url: str,
    token: str,
    log: WriterLog,
    *,
    clients: int,
    stop: threading.Event,
    prefix: str,
    max_requests: int = 100_000,
) -> list[threading.Thread]:
    """Start ``clients`` threads posting items until ``stop`` is set or the server dies."""

    def writer(number: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            for sequence in range(max_requests):
                if stop.is_set():
                    return
                name = f"{prefix}-{number}-{sequence}"
                try:
                    response = client.post(
                        "/api/items",
                        json={"name": name, "description": name * 3, "tags": [prefix]},
                        headers={"authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    return  # the server was killed: what it acknowledged is in the log
                if response.status_code == 201:
                    log.record(response.json()["id"], name)
                else:
                    with log.lock:
                        log.failures += 1

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    return threads


@contextmanager
def writing(url: str, token: str, *, clients: int, prefix: str) -> Iterator[WriterLog]:
    """Writers posting until the block ends (or the server dies); their log of acks."""
    log, stop = WriterLog(), threading.Event()
    threads = run_writers(url, token, log, clients=clients, stop=stop, prefix=prefix)
    try:
        yield log
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class SoakResult:
    requests: int
    errors: int
    p99_ms: float
    rss_start_kib: int
    rss_end_kib: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0


def soak(url: str, token: str, pid: int, *, seconds: float, clients: int = 6) -> SoakResult:
    """Mixed reads, writes and static requests for ``seconds``; bounded by time."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    auth = {"authorization": f"Bearer {token}"}

    def mixed(number: int) -> None:
        steps: list[Callable[[httpx.Client, int], httpx.Response]] = [
            lambda c, i: c.get("/api/items", params={"limit": "20"}),
            lambda c, i: c.get("/api/items", params={"q": f"soak-{number}", "limit": "5"}),
            lambda c, i: c.post("/api/items", json={"name": f"soak-{number}-{i}"}, headers=auth),
            lambda c, i: c.get("/"),
            lambda c, i: c.get("/healthz"),
        ]
        with httpx.Client(base_url=url, timeout=10) as client:
            i = 0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = steps[i % len(steps)](client, i)
                    ok = response.status_code < 400
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors[0] += 0 if ok else 1
                i += 1

    threads = [threading.Thread(target=mixed, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    # RSS is compared from the end of a warm-up (a quarter of the run, while the load
    # is on): caches and allocator pools fill first, and that growth is not a leak.
    threading.Event().wait(seconds / 4)
    rss_start = rss_kib(pid)
    for thread in threads:
        thread.join(timeout=seconds + 30)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    return SoakResult(len(latencies), errors[0], p99, rss_start, rss_kib(pid))
