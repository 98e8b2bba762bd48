"""The stored vectors: one row per row of an application's collection, and the model
that made them.

A row is written in two steps. The app's write marks it changed (``dirty`` counts
changes not yet embedded), which costs one small upsert; the embedding job later
reads the text, computes the vector off the request path and saves it, but only
if ``dirty`` still holds the count it read, so a change that lands while the job
works is never overwritten by the vector of the older text.

Every save of a batch takes the collection's next ``seq``, so each process keeps
its in-memory copy current by reading the rows after the last ``(seq, row_id)`` it
applied (a batch shares one ``seq``). A row whose vector is NULL with a ``seq`` is
a removal (the app's row is gone, or the model changed). On SQLite one writer at
a time makes ``seq`` follow commit order; on PostgreSQL a save first takes
``SAVE_LOCK``, a transaction-scoped advisory lock, so no save can commit a smaller
``seq`` after a larger one is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from onebin.store.migrations import Migration

# The advisory lock key of vector saves (any constant no other part of onebin uses).
SAVE_LOCK = 0x6F6E6562696E_02

_TABLES = """
CREATE TABLE onebin_vectors (
    collection TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    dirty INTEGER NOT NULL DEFAULT 1,
    seq INTEGER NOT NULL DEFAULT 0,
    vector BLOB,
    PRIMARY KEY (collection, row_id)
);
CREATE INDEX onebin_vectors_seq ON onebin_vectors (collection, seq, row_id);
CREATE INDEX onebin_vectors_dirty ON onebin_vectors (collection, row_id) WHERE dirty > 0;
CREATE TABLE onebin_vector_models (
    collection TEXT PRIMARY KEY,
    model TEXT NOT NULL
)
"""

MIGRATIONS = (
    Migration(
        "onebin",
        9,
        "semantic search vectors",
        _TABLES,
        # The same tables in PostgreSQL's types: 64-bit integers, bytes as BYTEA.
        postgresql=_TABLES.replace("INTEGER", "BIGINT").replace("BLOB", "BYTEA"),
    ),
)


@dataclass(frozen=True)
class VectorSql:
    """One engine's statements of the vector tables."""

    mark: str
    mark_all: str
    drop_all: str
    dirty: str
    next_seq: str
    save: str
    changes: str
    model: str
    set_model: str
    vector: str
    counts: str
    lock: str | None


_SQLITE = VectorSql(
    mark=(
        "INSERT INTO onebin_vectors (collection, row_id) VALUES (?, ?) "
        "ON CONFLICT (collection, row_id) DO UPDATE SET dirty = dirty + 1"
    ),
    mark_all="UPDATE onebin_vectors SET dirty = dirty + 1 WHERE collection = ?",
    # A new model: every stored vector is dropped (searches then skip the row until
    # it is embedded again, rather than comparing vectors of two models).
    drop_all=(
        "UPDATE onebin_vectors SET dirty = dirty + 1, vector = NULL, seq = ? WHERE collection = ?"
    ),
    dirty=(
        "SELECT row_id, dirty FROM onebin_vectors WHERE collection = ? AND dirty > 0 "
        "ORDER BY row_id LIMIT ?"
    ),
    next_seq="SELECT coalesce(max(seq), 0) + 1 AS seq FROM onebin_vectors WHERE collection = ?",
    save=(
        "UPDATE onebin_vectors SET vector = ?, dirty = 0, seq = ? "
        "WHERE collection = ? AND row_id = ? AND dirty = ?"
    ),
    changes=(
        "SELECT row_id, seq, vector FROM onebin_vectors "
        "WHERE collection = ? AND (seq, row_id) > (?, ?) ORDER BY seq, row_id LIMIT ?"
    ),
    model="SELECT model FROM onebin_vector_models WHERE collection = ?",
    set_model=(
        "INSERT INTO onebin_vector_models (collection, model) VALUES (?, ?) "
        "ON CONFLICT (collection) DO UPDATE SET model = excluded.model"
    ),
    vector="SELECT vector FROM onebin_vectors WHERE collection = ? AND row_id = ?",
    # Rows with a vector, and rows waiting for one (new, changed, or re-embedding).
    counts=(
        "SELECT count(vector) AS embedded, "
        "coalesce(sum(CASE WHEN dirty > 0 THEN 1 ELSE 0 END), 0) AS waiting "
        "FROM onebin_vectors WHERE collection = ?"
    ),
    lock=None,
)


def _postgres(statement: str) -> str:
    return statement.replace("?", "%s")


SQL = {
    "sqlite": _SQLITE,
    "postgresql": VectorSql(
        mark=_postgres(_SQLITE.mark).replace("dirty = dirty", "dirty = onebin_vectors.dirty"),
        mark_all=_postgres(_SQLITE.mark_all),
        drop_all=_postgres(_SQLITE.drop_all),
        dirty=_postgres(_SQLITE.dirty),
        next_seq=_postgres(_SQLITE.next_seq),
        save=_postgres(_SQLITE.save),
        changes=_postgres(_SQLITE.changes),
        model=_postgres(_SQLITE.model),
        set_model=_postgres(_SQLITE.set_model),
        vector=_postgres(_SQLITE.vector),
        counts=_postgres(_SQLITE.counts),
        lock=f"SELECT pg_advisory_xact_lock({SAVE_LOCK})",
    ),
}
