"""The content checksum migrate-data verifies a copy with: equal contents, equal sums,
whichever engine's types they come in; any difference shows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from onebin.store.checksum import checksum, normalised


def test_checksum_is_the_same_in_any_row_order():
    rows = [(1, "a", None), (2, "b", b"\x00"), (3, "c", 1.5)]
    assert checksum(rows) == checksum(reversed(rows))
    assert checksum(rows).rows == 3


def test_checksum_reads_each_engines_types_as_the_same_text():
    # SQLite may hold 5 in a TEXT column, PostgreSQL "5"; 1.0 and 1, Decimal and float.
    assert checksum([(5, 1.0, Decimal("2.50"))]) == checksum([("5", 1, 2.5)])
    assert normalised(True) == "1"


@pytest.mark.parametrize(
    "changed",
    [
        [(1, "a", None), (2, "B", b"\x00")],  # a value
        [(1, "a", None)],  # a missing row
        [(1, "a", None), (2, "b", b"\x00"), (2, "b", b"\x00")],  # a repeated row
        [(1, "a", ""), (2, "b", b"\x00")],  # NULL is not ""
        [(1, "a", None), (2, "b", "00")],  # bytes are not their hex
        [(1, None, "a"), (2, "b", b"\x00")],  # values moved between columns
    ],
)
def test_checksum_detects_any_difference(changed):
    original = checksum([(1, "a", None), (2, "b", b"\x00")])
    assert checksum(changed) != original
