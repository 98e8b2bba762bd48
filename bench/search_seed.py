"""The search benchmark's database: made-up items written straight into SQLite, and
their vectors, as a server would have made them, in a pool of processes.

Items: names of 2-4 words, descriptions of 10-40 words drawn from a Zipf-like
vocabulary whose head words are in most items, 0-3 tags; the same seed gives the
same items. Vectors: each item's text as the app makes it (``item_texts``), embedded
by ``onebin.semantic.model.embed`` and stored saved (``dirty = 0``) under the
current ``MODEL_ID``, so the server neither re-embeds at start nor waits for its job.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import sqlite3
import sys
import time
from bisect import bisect
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from onebin.compose import open_database
from onebin.config import Settings
from onebin.items import SEMANTIC
from onebin.items import app as items_app
from onebin.items.repository import item_texts
from onebin.semantic.model import MODEL_ID, embed

BATCH = 50_000
# Items embedded per task of the pool: big enough that a task's IPC is small beside
# its embedding, small enough that progress shows and the two workers finish together.
EMBED_CHUNK = 2_000
EMBED_PROCESSES = 2
# Stored vectors compared with the model's on reuse, spread over the ids.
SAMPLE = 50


def words_of(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Function words at the head of the distribution: each is in most descriptions.
HEAD = words_of(
    "the and with for this that from your made into high light black white small "
    "large steel wood classic new set pack style"
)
TAGS = words_of(
    "tools kitchen garden office outdoor home sport travel kids audio lighting "
    "storage bath pets craft auto paint decor books music camera phone laptop "
    "bedding rugs clocks frames plants tea coffee baking cleaning safety repair"
)
ONSETS = words_of("b c d f g h k l m n p r s t v z br cr dr gr pl st tr")
VOWELS = words_of("a e i o u ai ea io")
CODAS = ["", "n", "r", "s", "l", "m", "x", "nd", "st"]


def vocabulary(size: int = 30_000) -> list[str]:
    """Head words, then made-up words of two syllables, in a fixed order."""
    syllables = [o + v + c for o, v, c in itertools.product(ONSETS, VOWELS, CODAS)]
    rng = random.Random(7)
    words = dict.fromkeys(HEAD)
    while len(words) < size:
        words.setdefault(rng.choice(syllables) + rng.choice(syllables))
    return list(words)


def zipf_cumulative(size: int, exponent: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(size)))


class TextMaker:
    """Item texts from a Zipf-like vocabulary; the same seed gives the same items."""

    def __init__(self, seed: int = 1) -> None:
        self.words = vocabulary()
        self.cumulative = zipf_cumulative(len(self.words))
        self.tag_cumulative = zipf_cumulative(len(TAGS))
        self.rng = random.Random(seed)

    def draw(self, count: int) -> list[str]:
        total, cum, words, rand = self.cumulative[-1], self.cumulative, self.words, self.rng.random
        return [words[bisect(cum, rand() * total)] for _ in range(count)]

    def item(self) -> tuple[str, str, str]:
        rng = self.rng
        name = " ".join(self.draw(rng.randint(2, 4))).capitalize()
        description = " ".join(self.draw(rng.randint(10, 40))).capitalize() + "."
        tags = rng.choices(TAGS, cum_weights=self.tag_cumulative, k=rng.randint(0, 3))
        return name, description, "[" + ",".join(f'"{tag}"' for tag in dict.fromkeys(tags)) + "]"


def stamps(count: int) -> list[str]:
    """Creation times 30 s apart, in the store's fixed-width ISO form."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        (start + timedelta(seconds=30 * n)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for n in range(count)
    ]


class WrongSize(Exception):
    """A reused data directory holds another number of items than asked for."""


@dataclass(frozen=True)
class Seeding:
    """What preparing a data directory cost; None for a part that was there already."""

    items: int
    items_seconds: float | None
    vectors_seconds: float | None

    @property
    def embedded_per_second(self) -> float | None:
        return self.items / self.vectors_seconds if self.vectors_seconds else None


def prepare(data_dir: Path, count: int) -> Seeding:
    """A data directory with ``count`` items and their current vectors, reusing what
    an earlier run left there (items of another count are refused)."""
    settings = Settings(data_dir=data_dir)
    items_seconds = None
    if not settings.database_path.exists():
        items_seconds = seed_items(settings, count)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        found = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    if found != count:
        raise WrongSize(f"{data_dir} holds {found:,} items, not {count:,}: use another --data-dir")
    vectors_seconds = None
    if not vectors_current(settings.database_path, count):
        vectors_seconds = seed_vectors(settings.database_path)
    open_database(settings, items_app).close()  # a clean close: no integrity check at start
    return Seeding(count, items_seconds, vectors_seconds)


def seed_items(settings: Settings, count: int) -> float:
    """Write ``count`` items; returns the seconds it took.

    Rows go to a staging table first and into ``items`` with one INSERT … SELECT:
    row by row, each statement's savepoint makes FTS5 flush its pending index data
    (about 10x slower here).
    """
    started = time.monotonic()
    open_database(settings, items_app).close()  # the schema, as the server makes it
    maker = TextMaker()
    times = stamps(count)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("CREATE TEMP TABLE staging (name, description, tags, created_at)")
        for start in range(0, count, BATCH):
            rows = [(*maker.item(), stamp) for stamp in times[start : start + BATCH]]
            conn.executemany("INSERT INTO staging VALUES (?, ?, ?, ?)", rows)
            print(f"\r  generated {start + len(rows):,} items", end="", file=sys.stderr)
        print("; indexing…", file=sys.stderr)
        with conn:
            conn.execute(
                "INSERT INTO items (name, description, tags, created_at, updated_at) "
                "SELECT name, description, tags, created_at, created_at FROM staging"
            )
    return time.monotonic() - started


def vectors_current(database: Path, count: int) -> bool:
    """Whether every item has a saved vector of the current model, and a sample of
    them is what the app's text and the model give now: a change to the text
    (``embedding_text``) or to the tokenizer keeps the model's id."""
    with closing(sqlite3.connect(database)) as conn:
        conn.row_factory = sqlite3.Row
        model = conn.execute(
            "SELECT model FROM onebin_vector_models WHERE collection = ?", (SEMANTIC.name,)
        ).fetchone()
        saved = conn.execute(
            "SELECT count(*) FROM onebin_vectors "
            "WHERE collection = ? AND dirty = 0 AND vector IS NOT NULL",
            (SEMANTIC.name,),
        ).fetchone()[0]
        if model is None or model[0] != MODEL_ID or saved != count:
            return False
        sample = range(1, count + 1, max(1, count // SAMPLE))
        texts = item_texts(conn, sample)
        stored = {
            row_id: conn.execute(
                "SELECT vector FROM onebin_vectors WHERE collection = ? AND row_id = ?",
                (SEMANTIC.name, row_id),
            ).fetchone()["vector"]
            for row_id in sample
        }
    return all(embed(texts[row_id]) == vector for row_id, vector in stored.items())


def seed_vectors(database: Path, processes: int = EMBED_PROCESSES) -> float:
    """Embed every item in a pool of ``processes`` and store the vectors as saved ones
    (``dirty = 0``, ``seq = 1``) of the current model; returns the seconds it took."""
    started = time.monotonic()
    embed("")  # the model is read here, once, and the forked workers share it
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA cache_size = -262144")
        last = conn.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0]
        conn.execute("DELETE FROM onebin_vectors WHERE collection = ?", (SEMANTIC.name,))
        pool = multiprocessing.get_context("fork").Pool(processes, _open_reader, (str(database),))
        with pool:
            done = 0
            for rows in pool.imap_unordered(_embed_chunk, _chunks(last)):
                conn.executemany(
                    "INSERT INTO onebin_vectors (collection, row_id, dirty, seq, vector) "
                    "VALUES (?, ?, 0, 1, ?)",
                    [(SEMANTIC.name, row_id, vector) for row_id, vector in rows],
                )
                done += len(rows)
                rate = done / (time.monotonic() - started)
                print(f"\r  embedded {done:,} items ({rate:,.0f}/s)", end="", file=sys.stderr)
        print(file=sys.stderr)
        conn.execute(
            "INSERT INTO onebin_vector_models (collection, model) VALUES (?, ?) "
            "ON CONFLICT (collection) DO UPDATE SET model = excluded.model",
            (SEMANTIC.name, MODEL_ID),
        )
        conn.commit()
    return time.monotonic() - started


def _chunks(last: int) -> Iterator[tuple[int, int]]:
    for start in range(1, last + 1, EMBED_CHUNK):
        yield start, min(start + EMBED_CHUNK, last + 1)


# Each pool worker's own read-only connection (set by _open_reader).
_reader: sqlite3.Connection | None = None


def _open_reader(database: str) -> None:
    global _reader
    _reader = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    _reader.row_factory = sqlite3.Row


def _embed_chunk(bounds: tuple[int, int]) -> list[tuple[int, bytes]]:
    """The vectors of the items with ids in ``[start, end)``, from the app's own text."""
    assert _reader is not None
    texts = item_texts(_reader, range(*bounds))
    return [(item_id, embed(text)) for item_id, text in texts.items()]
