from __future__ import annotations

from onebin.server.listen import (
    AUTO_CONNECTIONS,
    LINGERING_DESCRIPTORS,
    RESERVED_DESCRIPTORS,
    connection_cap,
)

SPARE = RESERVED_DESCRIPTORS + LINGERING_DESCRIPTORS


def test_auto_cap_follows_the_open_files_limit():
    assert connection_cap(None, 1_048_576) == (AUTO_CONNECTIONS, None)
    assert connection_cap(None, 1024) == (1024 - SPARE, None)


def test_a_cap_above_the_limit_is_lowered_and_says_how_to_raise_it():
    cap, why = connection_cap(5000, 1024)
    assert cap == 1024 - SPARE
    assert why is not None
    assert "LimitNOFILE" in why
    assert connection_cap(200, 1024) == (200, None)
