from __future__ import annotations

from onebin.health import MIB, disk_check


def test_disk_check_passes_above_the_floor_and_says_what_is_left_below_it():
    assert disk_check(100 * MIB, 64 * MIB) is None
    assert disk_check(64 * MIB, 64 * MIB) is None
    problem = disk_check(12 * MIB, 64 * MIB)
    assert problem is not None
    assert "12 MiB free" in problem
    assert "64 MiB" in problem
    assert "--min-free-disk" in problem
