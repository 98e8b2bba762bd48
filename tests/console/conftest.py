"""A real ``onebin serve`` with two workers, and tokens of both kinds for it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests.support import ONEBIN, ServerProcess


def admin_token(data_dir: Path, name: str = "admin", extra: Sequence[str] = ()) -> str:
    """An admin token made as an operator makes one: ``token create --admin``."""
    made = subprocess.run(
        [
            *ONEBIN,
            "token",
            "create",
            "--admin",
            "--name",
            name,
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


class Console:
    """The console API of a running server, as the page calls it."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self.server = server
        self.token = token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, token: str | None = None, **options: object) -> httpx.Response:
        return httpx.get(
            f"{self.server.url}/_onebin/api/{path}", headers=self.headers(token), **options
        )  # type: ignore[arg-type]

    def post(self, path: str, token: str | None = None, **options: object) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/_onebin/api/{path}", headers=self.headers(token), **options
        )  # type: ignore[arg-type]

    def delete(self, path: str, token: str | None = None) -> httpx.Response:
        return httpx.delete(f"{self.server.url}/_onebin/api/{path}", headers=self.headers(token))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module's tests (they use tokens and jobs of their own)."""
    data_dir = tmp_path_factory.mktemp("console") / "data"
    # A long worker timeout: a test stops a worker for a moment on purpose.
    with ServerProcess(
        data_dir, extra_args=("--workers", "2", "--worker-timeout", "60")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def console(server: ServerProcess) -> Console:
    return Console(server, admin_token(server.data_dir))


@pytest.fixture(scope="module")
def writer(server: ServerProcess) -> str:
    """A write token: the app's API takes it, the console does not."""
    return server.token("writer")
