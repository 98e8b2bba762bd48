"""What the console knows of the serving processes: their start, and each worker's requests."""

from __future__ import annotations

import os

from onebin.console.host import Host
from onebin.console.recent import RecentRequests
from onebin.server.access import RequestRecord


def finished(rid: str, path: str = "/x") -> RequestRecord:
    return RequestRecord(
        started=1_700_000_000.5,
        request_id=rid,
        client="127.0.0.1",
        method="POST",
        path=path,
        status=201,
        bytes=42,
        duration=0.003,
    )


def test_the_process_section_counts_uptime_from_the_start():
    host = Host(7, 1_700_000_000.0, 100.0, workers=3, requests=RecentRequests(3))
    assert host.process(now_monotonic=161.25) == {
        "pid": 7,
        "started_at": "2023-11-14T22:13:20+00:00",
        "uptime_seconds": 61.25,
        "workers": 3,
    }


def test_starting_is_this_process_now():
    host = Host.starting(2)
    assert host.pid == os.getpid()
    assert host.workers == 2
    assert host.requests.sections == 2


def test_each_worker_observes_into_its_own_section():
    host = Host.starting(2)
    host.observer(1)(finished("a"), {})
    host.observer(2)(finished("b"), {})
    assert [list(host.requests.records(section)) != [] for section in (0, 1)] == [True, True]
    assert {entry.request_id for entry in host.requests.latest()} == {"a", "b"}


def test_a_single_process_uses_the_first_section():
    host = Host.starting(1)
    host.observer(None)(finished("only", "/api/items"), {})
    [entry] = host.requests.latest()
    assert (entry.method, entry.path, entry.status, entry.bytes) == ("POST", "/api/items", 201, 42)
