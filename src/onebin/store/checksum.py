"""A table's content as one number, computed the same way from either engine's rows.

``migrate-data`` compares a table's copy with its source by row count and this
checksum (``onebin.store.transfer``): equal contents give equal checksums whichever
engine holds them, in whatever order the rows come.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any


def normalised(value: Any) -> Any:
    """``value`` as text, so that one value reads the same from either engine.

    An integer column comes back as ``int`` from both; but a SQLite column may hold
    ``5`` where PostgreSQL's TEXT column holds ``"5"``, a float may be integral, and
    PostgreSQL may return ``Decimal`` or ``datetime`` where SQLite has text. NULL
    stays None and bytes become ``[hex]``: neither can pass for a string.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # integral floats read as integers: 1.0 is "1"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return [bytes(value).hex()]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Checksum:
    """A table's row count and content digest.

    The digest is the sum (mod 2**256) of each row's SHA-256 over its normalised
    values: independent of row order, so neither engine's collation nor a table
    without a key can make equal contents differ; a changed, missing or repeated row
    changes it. Memory stays constant however big the table.
    """

    rows: int
    digest: int

    @property
    def hex(self) -> str:
        return f"{self.digest:064x}"

    @property
    def short(self) -> str:
        return self.hex[:16]


def row_digest(row: Sequence[Any]) -> int:
    text = json.dumps([normalised(value) for value in row], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(), "big")


def checksum(rows: Iterable[Sequence[Any]]) -> Checksum:
    count = 0
    total = 0
    for row in rows:
        count += 1
        total = (total + row_digest(row)) % (1 << 256)
    return Checksum(count, total)
