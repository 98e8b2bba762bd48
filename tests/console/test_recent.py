"""The recent-requests ring: records encoded exactly, kept per worker, shared across a fork."""

from __future__ import annotations

import os

import pytest

from onebin.console.recent import (
    SLOT_BYTES,
    RecentRequests,
    Request,
    decode,
    encode,
    packed,
)


def request(n: int = 1, **changes: object) -> Request:
    fields: dict[str, object] = {
        "started": 1_700_000_000.0 + n,
        "request_id": f"id-{n}",
        "client": "203.0.113.9",
        "method": "GET",
        "path": f"/api/items/{n}",
        "status": 200,
        "bytes": 1234,
        "duration": 0.0025,
    }
    fields.update(changes)
    return Request(**fields)  # type: ignore[arg-type]


def add(ring: RecentRequests, section: int, entry: Request) -> None:
    ring.add(
        section,
        packed(
            entry.started,
            entry.request_id,
            entry.client,
            entry.method,
            entry.path,
            entry.status,
            entry.bytes,
            entry.duration,
        ),
    )


def test_encode_decode_round_trip_keeps_every_field():
    entry = request(7, client="2001:db8::1", method="DELETE", status=404, bytes=0)
    assert decode(encode(entry)) == entry


def test_records_are_fixed_width_whatever_the_text():
    assert len(encode(request(path="/"))) == len(encode(request(path="/" + "x" * 5000)))
    assert SLOT_BYTES % 8 == 0


def test_long_text_is_cut_at_a_character_boundary():
    entry = request(path="/" + "é" * 300, request_id="r" * 200)
    back = decode(encode(entry))
    assert back.path.startswith("/éé")
    assert len(back.path.encode()) <= 256
    assert back.path == back.path.encode().decode()  # no broken character at the end
    assert back.request_id == "r" * 64


def test_text_that_is_not_utf8_encodable_is_kept_readable():
    back = decode(encode(request(path="/bad\udcff")))
    assert back.path == "/bad?"


@pytest.mark.parametrize(("status", "size"), [(-1, -5), (70_000, 2**70)])
def test_out_of_range_numbers_never_break_the_request(status, size):
    back = decode(encode(request(status=status, bytes=size)))
    assert back.status == 0
    assert back.bytes in (0, 2**64 - 1)


def test_as_json_is_what_the_console_lists():
    assert request(1, duration=0.0125).as_json() == {
        "time": "2023-11-14T22:13:21.000+00:00",
        "request_id": "id-1",
        "client": "203.0.113.9",
        "method": "GET",
        "path": "/api/items/1",
        "status": 200,
        "bytes": 1234,
        "duration_ms": 12.5,
    }


def test_latest_is_newest_first_across_sections():
    ring = RecentRequests(sections=2, capacity=10)
    add(ring, 0, request(1))
    add(ring, 1, request(2))
    add(ring, 0, request(3))
    assert [entry.request_id for entry in ring.latest()] == ["id-3", "id-2", "id-1"]
    assert [entry.request_id for entry in ring.latest(2)] == ["id-3", "id-2"]


def test_a_full_section_keeps_its_newest_records():
    ring = RecentRequests(sections=1, capacity=5)
    for n in range(1, 13):
        add(ring, 0, request(n))
    assert [entry.request_id for entry in ring.latest()] == [f"id-{n}" for n in range(12, 7, -1)]


def test_the_newest_of_the_host_are_kept_however_unevenly_workers_share_them():
    ring = RecentRequests(sections=3, capacity=4)
    for n in range(1, 10):  # a busy worker
        add(ring, 0, request(n))
    add(ring, 2, request(10))  # an idle one
    assert [entry.request_id for entry in ring.latest(4)] == ["id-10", "id-9", "id-8", "id-7"]


def test_a_slot_being_written_is_skipped_not_shown_torn():
    ring = RecentRequests(sections=1, capacity=4)
    add(ring, 0, request(1))
    add(ring, 0, request(2))
    # A writer stopped (or killed) between its two stamps: the slot's stamp is odd.
    stamp = (8 + 1 * SLOT_BYTES) // 8
    ring._words[stamp] += 1
    assert [entry.request_id for entry in ring.latest()] == ["id-1"]


def test_a_replacement_worker_continues_its_section():
    ring = RecentRequests(sections=1, capacity=3)
    add(ring, 0, request(1))
    add(ring, 0, request(2))
    # A new worker process has only the mapping: the count lives there, not in Python.
    pid = os.fork()
    if pid == 0:
        add(ring, 0, request(3))
        add(ring, 0, request(4))
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert [entry.request_id for entry in ring.latest()] == ["id-4", "id-3", "id-2"]


def test_workers_forked_after_it_is_made_share_it():
    ring = RecentRequests(sections=2, capacity=10)
    children = []
    for section in (0, 1):
        pid = os.fork()
        if pid == 0:
            add(ring, section, request(section + 1, request_id=f"from-{section}"))
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    assert {entry.request_id for entry in ring.latest()} == {"from-0", "from-1"}
