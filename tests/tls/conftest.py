from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from onebin.tls.storage import CertificateStore
from tests.support import free_port
from tests.tls.pebble import Pebble, serve_challenges


@pytest.fixture
def http_port() -> int:
    """The port Pebble validates HTTP-01 challenges on."""
    return free_port()


@pytest.fixture
def start_pebble(tmp_path: Path, http_port: int) -> Iterator[Callable[..., Pebble]]:
    """Start a real Pebble (5% badNonce, no validation sleep) pointed at ``http_port``."""
    started: list[Pebble] = []

    def start(**options) -> Pebble:
        options.setdefault("http_port", http_port)
        pebble = Pebble(tmp_path / f"pebble-{len(started)}", **options)
        started.append(pebble)
        return pebble.start()

    yield start
    for pebble in started:
        pebble.stop()


@pytest.fixture
def pebble(start_pebble: Callable[..., Pebble]) -> Pebble:
    return start_pebble()


@pytest.fixture
def store(tmp_path: Path, pebble: Pebble) -> CertificateStore:
    return CertificateStore(tmp_path / "data", pebble.directory)


@pytest.fixture
def challenge_server(store: CertificateStore, http_port: int) -> Iterator[None]:
    with serve_challenges(store, http_port):
        yield
