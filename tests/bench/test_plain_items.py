"""The reference app of the write benchmark serves the items API but marks nothing for
embedding, served as bench/search.py serves it (``--app`` from the repository's root)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from onebin.config import Settings
from tests.support import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
HAMMER = {"name": "Claw hammer", "description": "For driving nails.", "tags": ["tools"]}


def vector_rows(data_dir: Path) -> int:
    """Rows of onebin_vectors, saved or only marked."""
    with closing(sqlite3.connect(Settings(data_dir=data_dir).database_path)) as conn:
        return conn.execute("SELECT count(*) FROM onebin_vectors").fetchone()[0]


@pytest.mark.parametrize(
    ("app", "marked"),
    [((), 1), (("--app", "bench.plain_items:app"), 0)],
    ids=["items", "plain_items"],
)
def test_plain_items_writes_items_without_marking_them(tmp_path, app, marked):
    with ServerProcess(tmp_path / "data", extra_args=app, cwd=ROOT) as server:
        token = server.token()
        with httpx.Client(
            base_url=f"{server.url}/api", headers={"authorization": f"Bearer {token}"}
        ) as api:
            created = api.post("/items", json=HAMMER)
            assert created.status_code == 201, created.text
            assert api.get(f"/items/{created.json()['id']}").json()["name"] == "Claw hammer"
        assert vector_rows(server.data_dir) == marked
