"""``onebin reindex``: every row of the app's collections embedded again, here and now."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from onebin.config import Settings
from tests.items.test_search_server import seed
from tests.test_cli import run


def vectors(data_dir) -> list[tuple[int, int, bytes | None]]:
    path = Settings(data_dir=data_dir).database_path
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT row_id, dirty, vector FROM onebin_vectors WHERE collection = 'items' "
            "ORDER BY row_id"
        ).fetchall()


def test_reindex_embeds_rows_written_straight_into_the_database(tmp_path):
    data_dir = tmp_path / "data"
    seed(data_dir, 300, name="'lamp ' || i", description="'a reading light for the desk'")
    path = Settings(data_dir=data_dir).database_path
    with closing(sqlite3.connect(path)) as conn, conn:  # rows the app never marked
        conn.execute(
            "INSERT INTO onebin_vectors (collection, row_id) SELECT 'items', id FROM items"
        )
    result = run("reindex", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "items: 300 rows embedded" in result.stdout
    stored = vectors(data_dir)
    assert len(stored) == 300
    assert all(
        dirty == 0 and vector is not None and len(vector) == 256 for _, dirty, vector in stored
    )
    again = run("reindex", "--data-dir", str(data_dir))
    assert "items: 300 rows embedded" in again.stdout  # every row, not only marked ones


def test_reindex_refuses_a_missing_database_and_an_app_without_collections(tmp_path):
    missing = run("reindex", "--data-dir", str(tmp_path / "nothing"))
    assert missing.returncode == 1
    assert "no database at" in missing.stderr
    app = tmp_path / "plain.py"
    app.write_text("from onebin import App\napp = App(name='plain')\n")
    plain = run("reindex", "--app", "plain:app", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert plain.returncode == 2
    assert "has no semantic collections" in plain.stderr
