"""Search benchmark: full-text search over 1,000,000 items, and what it costs other requests.

Run: ``.venv/bin/python bench/search.py`` (a few minutes; ``--data-dir DIR`` keeps the
seeded database for the next run). Seeds a million items straight into SQLite
(names of 2-4 words, descriptions of 10-40 words drawn from a Zipf-like vocabulary
whose head words are in most items, 0-3 tags), then against a real ``onebin serve``
measures, in one run:

- ``GET /api/items?q=`` p50/p99 for a common word, a rare word and a 3-letter
  prefix, each with one client and nothing else running (target: p99 < 50 ms),
  and, for comparison, a common word of four letters and a common word in date
  order;
- ``GET /api/items/{id}`` (random ids, wrk -c64) alone, then again while 8 clients
  search continuously, and the ratio of the two p99s (target: within 2x).

Needs Debian's ``wrk``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from bisect import bisect
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import RANDOM_GET, Result, wrk
from onebin.compose import open_database
from onebin.config import Settings
from onebin.items import app as items_app
from tests.support import ServerProcess

ITEMS = 1_000_000
BATCH = 50_000
SEARCH_CLIENTS = 8


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

SEARCHES = """
math.randomseed(os.time() + %d)
local queries = {%s}
request = function()
  return wrk.format("GET", "/api/items?q=" .. queries[math.random(1, #queries)])
end
"""


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


def seed(data_dir: Path, count: int) -> float:
    """Write ``count`` items; returns the seconds it took.

    Rows go to a staging table first and into ``items`` with one INSERT … SELECT:
    row by row, each statement's savepoint makes FTS5 flush its pending index data
    (about 10x slower here).
    """
    started = time.monotonic()
    settings = Settings(data_dir=data_dir)
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
    open_database(settings, items_app).close()  # a clean close: no integrity check at start
    return time.monotonic() - started


@dataclass(frozen=True)
class Search:
    label: str
    q: str
    matches: int
    sort: str | None = None
    target: bool = True  # one of the searches the p99 target is stated for

    @property
    def path(self) -> str:
        return f"/api/items?q={self.q}" + (f"&sort={self.sort}" if self.sort else "")


def matches(conn: sqlite3.Connection, word: str) -> int:
    expression = f'"{word}"*' if len(word) >= 2 else f'"{word}"'
    return conn.execute(
        "SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", (expression,)
    ).fetchone()[0]


def pick_searches(data_dir: Path) -> tuple[int, list[Search]]:
    """How many items there are, and the searches to time, with how many items match.

    The target is stated for a common word, a rare word and a 3-letter prefix; two
    more show what a common word costs as a longer prefix and in date order.
    """
    words = vocabulary()
    with closing(sqlite3.connect(Settings(data_dir=data_dir).database_path)) as conn:
        items = conn.execute("SELECT max(id) FROM items").fetchone()[0]
        common, long_common = HEAD[0], next(w for w in HEAD if len(w) >= 4)
        rare = next(w for w in words[15_000:] if 20 <= matches(conn, w) <= 200)
        # The start of a mid-frequency made-up word: a prefix many words share.
        prefix = next(w[:3] for w in words[len(HEAD) + 30 :] if w[:3] not in HEAD)
        found = {word: matches(conn, word) for word in (common, long_common, rare, prefix)}
    return items, [
        Search("common word", common, found[common]),
        Search("rare word", rare, found[rare]),
        Search("3-letter prefix", prefix, found[prefix]),
        Search("common word, 4 letters", long_common, found[long_common], target=False),
        Search("common word, newest first", common, found[common], "-created_at", False),
    ]


def search_mix(searches: list[Search], count: int = 20) -> list[str]:
    """What the searching clients send: the timed words plus words drawn by frequency."""
    drawn = TextMaker(seed=99).draw(count)
    pairs = [f"{a}+{b}" for a, b in zip(drawn[::2], drawn[1::2], strict=False)]
    return list(dict.fromkeys(s.q for s in searches)) + drawn + pairs


def measure(url: str, searches: list[Search], items: int, duration: int) -> dict[str, Result]:
    get = RANDOM_GET % items
    # Warm-up: the first searches after a start read the index from disk (or the
    # page cache) into SQLite's; the table is about the steady state.
    for search in searches:
        wrk(url + search.path, duration=2, connections=1, threads=1)
    wrk(url, script=get, duration=2, connections=64)
    results = {}
    for search in searches:
        results[search.label] = wrk(url + search.path, duration=duration, connections=1, threads=1)
    results["GET alone"] = wrk(url, script=get, duration=duration, connections=64)
    queries = ", ".join(f'"{q}"' for q in search_mix(searches))
    with ThreadPoolExecutor(1) as pool:
        searching = pool.submit(
            wrk,
            url,
            script=SEARCHES % (1, queries),
            duration=duration + 3,
            connections=SEARCH_CLIENTS,
        )
        time.sleep(1.5)  # the searches are under way before the GET load starts
        results["GET beside searches"] = wrk(url, script=get, duration=duration, connections=64)
        results["searches meanwhile"] = searching.result()
    return results


def report(
    results: dict[str, Result],
    searches: list[Search],
    items: int,
    seeded: float | None,
    load: tuple[float, float],
) -> None:
    print(f"\n{items:,} items" + (f" (seeded in {seeded:.0f} s)" if seeded is not None else ""))
    print(f"load average (1 min) before and after: {load[0]:.2f}, {load[1]:.2f}")
    print(f"\n{'search, one client alone':<28} {'q':<10} {'matches':>8} p50 ms  p99 ms  req/s")
    for search in searches:
        r = results[search.label]
        print(
            f"{search.label:<28} {search.q:<10} {search.matches:>8,} "
            f"{r.p50_ms:>6.1f} {r.p99_ms:>7.1f} {r.rps:>6,.0f}"
        )
    print(f"\n{'GET /api/items/{id}, wrk -c64':<31} req/s  p50 ms  p99 ms  non-2xx")
    for label in ("GET alone", "GET beside searches"):
        r = results[label]
        print(f"{label:<29} {r.rps:>7,.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.errors:>8}")
    r = results["searches meanwhile"]
    label = f"{SEARCH_CLIENTS} searching clients meanwhile"
    print(f"{label:<29} {r.rps:>7,.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.errors:>8}")
    worst = max(results[s.label].p99_ms for s in searches if s.target)
    ratio = results["GET beside searches"].p99_ms / results["GET alone"].p99_ms
    print(f"\nsearch p99, worst of the first three: {worst:.1f} ms (target < 50 ms)")
    print(f"GET p99 beside searches / alone: {ratio:.2f}x (target <= 2x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--items", type=int, default=ITEMS, help="items to seed")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the seeded database here and reuse it next time"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/search.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        seeded = None
        if not Settings(data_dir=data_dir).database_path.exists():
            seeded = seed(data_dir, args.items)
        items, searches = pick_searches(data_dir)
        load = os.getloadavg()[0]
        with ServerProcess(data_dir, start_timeout=120) as server:
            results = measure(server.url, searches, items, args.duration)
    report(results, searches, items, seeded, (load, os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
