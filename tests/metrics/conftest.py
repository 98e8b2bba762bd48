"""Every server these tests start keeps its metrics directory in the test's own
temporary directory: a test can find it there, and a server a test kills leaves
nothing behind in the machine's /tmp."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
