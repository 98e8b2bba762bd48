"""The recent-requests ring: the last requests of every worker of this host, in shared memory.

The console shows the newest requests whichever worker answered them, so the ring
lives in an anonymous shared mapping made before the fork (as the heartbeats do)
and inherited by every worker. Each worker writes only its own section, so the
request path takes no lock and no atomic operation: a section has exactly one
writer, the event loop of its worker. Each section keeps as many records as the
console shows in all (``CAPACITY``), so the newest ``CAPACITY`` requests of the
host are always among the sections' records, whatever the workers' shares.

A slot is a sequence number and a fixed-width record. The writer marks the slot
odd (being written), writes the record, then stamps it even; a reader copies the
record between two reads of the stamp and skips it unless both are the same even
number, so a record torn by a concurrent write (or by a worker killed while it
wrote) is never shown. A replacement worker continues its section from the count
in the section's header.

What is kept is what the console shows: time, request id, client address,
method, path (never the query string) and status, size and duration. No header.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CAPACITY = 200

# started, duration (s), bytes, status, then the lengths and bytes of method,
# request id, client and path. Little-endian, no padding: the same on every host.
_RECORD = struct.Struct("<ddQHBBBH16s64s64s256s")
_SEQ = struct.Struct("<Q")
# A slot is its stamp and a record, rounded up to whole 8-byte words, so every
# stamp is an aligned word (a single store the reader cannot see half of).
SLOT_BYTES = -(-(_SEQ.size + _RECORD.size) // 8) * 8
_HEADER_BYTES = 8  # per section: how many records its worker has written
_METHOD, _REQUEST_ID, _CLIENT, _PATH = 16, 64, 64, 256
_MOST_BYTES, _MOST_STATUS = 2**64 - 1, 2**16 - 1


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the console lists it."""

    started: float  # epoch seconds
    request_id: str
    client: str
    method: str
    path: str
    status: int
    bytes: int
    duration: float  # seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "time": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="milliseconds"),
            "request_id": self.request_id,
            "client": self.client,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "bytes": self.bytes,
            "duration_ms": round(self.duration * 1000, 3),
        }


def _clipped(text: str, width: int) -> bytes:
    """``text`` as UTF-8 in at most ``width`` bytes, cut at a character boundary."""
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate, from a path's undecodable bytes
        data = text.encode("utf-8", "replace")
    if len(data) <= width:
        return data
    return data[:width].decode("utf-8", "ignore").encode()


def packed(
    started: float,
    request_id: str,
    client: str,
    method: str,
    path: str,
    status: int,
    size: int,
    duration: float,
) -> tuple[Any, ...]:
    """The values of one record, over-long text cut, in ``_RECORD``'s order. Pure."""
    method_bytes = _clipped(method, _METHOD)
    id_bytes = _clipped(request_id, _REQUEST_ID)
    client_bytes = _clipped(client, _CLIENT)
    path_bytes = _clipped(path, _PATH)
    return (
        started,
        duration,
        size if 0 <= size < _MOST_BYTES else _MOST_BYTES,
        status if 0 <= status <= _MOST_STATUS else 0,
        len(method_bytes),
        len(id_bytes),
        len(client_bytes),
        len(path_bytes),
        method_bytes,
        id_bytes,
        client_bytes,
        path_bytes,
    )


def encode(request: Request) -> bytes:
    """The fixed-width record of ``request``. Pure."""
    return _RECORD.pack(
        *packed(
            request.started,
            request.request_id,
            request.client,
            request.method,
            request.path,
            request.status,
            request.bytes,
            request.duration,
        )
    )


def decode(record: bytes) -> Request:
    """The request of a record ``encode`` made. Pure."""
    (started, duration, size, status, n_method, n_id, n_client, n_path, method, request_id,
     client, path) = _RECORD.unpack(record)  # fmt: skip
    return Request(
        started,
        request_id[:n_id].decode("utf-8", "replace"),
        client[:n_client].decode("utf-8", "replace"),
        method[:n_method].decode("utf-8", "replace"),
        path[:n_path].decode("utf-8", "replace"),
        status,
        size,
        duration,
    )


class RecentRequests:
    """``sections`` rings of ``capacity`` slots (one per worker) in one shared mapping.

    Make it before forking; each worker then calls ``add`` with its own section
    number (0-based) only, from one thread; anyone may call ``latest``.
    """

    def __init__(self, sections: int, capacity: int = CAPACITY) -> None:
        self.sections = sections
        self.capacity = capacity
        self._section_bytes = _HEADER_BYTES + capacity * SLOT_BYTES
        self._map = mmap.mmap(-1, sections * self._section_bytes)  # MAP_SHARED by default
        self._words = memoryview(self._map).cast("Q")

    def _header(self, section: int) -> int:
        return section * self._section_bytes // 8

    def _slot(self, section: int, number: int) -> int:
        """The byte offset of the slot for a section's ``number``-th record."""
        return section * self._section_bytes + _HEADER_BYTES + (number % self.capacity) * SLOT_BYTES

    def add(self, section: int, values: tuple[Any, ...]) -> None:
        """Keep a record (``packed``'s values) in ``section``, over its oldest once full.

        The values are written straight into the mapping: no record object, no copy.
        """
        words = self._words
        header = self._header(section)
        number = words[header]
        offset = self._slot(section, number)
        stamp = offset // 8
        words[stamp] = 2 * number + 1  # odd: being written
        _RECORD.pack_into(self._map, offset + 8, *values)
        words[stamp] = 2 * number + 2  # even: record ``number`` is whole
        words[header] = number + 1

    def records(self, section: int) -> Iterator[bytes]:
        """The whole records of ``section`` (any order); torn ones are skipped."""
        words = self._words
        written = words[self._header(section)]
        for number in range(max(0, written - self.capacity), written):
            offset = self._slot(section, number)
            stamp = offset // 8
            if words[stamp] != 2 * number + 2:
                continue  # being written, or already overwritten by a newer one
            record = self._map[offset + 8 : offset + 8 + _RECORD.size]
            if words[stamp] == 2 * number + 2:
                yield record

    def latest(self, limit: int = CAPACITY) -> list[Request]:
        """The newest ``limit`` requests of every section, newest first."""
        found = [
            decode(record) for section in range(self.sections) for record in self.records(section)
        ]
        found.sort(key=lambda request: request.started, reverse=True)
        return found[:limit]
