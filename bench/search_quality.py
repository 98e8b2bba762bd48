"""Search quality: top-1 and MRR of each search mode over the labelled set, on a real server.

The set's items (``bench/search_set.json``) are created through the API, as a user
would, and the server's own job embeds them; once every one has a saved vector,
each query is sent in each mode (``limit=100``) and scored by where its answer
comes: reciprocal rank 1/rank, 0 when it is not in the list.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.search_set import KINDS, SearchSet, load, problems
from onebin.config import Settings
from onebin.items import SEMANTIC
from tests.support import ServerProcess, wait_until

MODES = ("text", "semantic", "hybrid")
LIMIT = 100
PARAPHRASE_TOP1_TARGET = 0.8
EMBED_TIMEOUT = 300.0


@dataclass(frozen=True)
class Score:
    queries: int
    top1: float
    mrr: float


def reciprocal_rank(found: Sequence[int], answer: int) -> float:
    """1/rank of ``answer`` in ``found`` (best first), 0 when it is not there."""
    return 1 / (found.index(answer) + 1) if answer in found else 0.0


def score(ranks: Sequence[float]) -> Score:
    """Top-1 (the share of queries answered first) and MRR of reciprocal ranks."""
    if not ranks:
        return Score(0, 0.0, 0.0)
    return Score(len(ranks), sum(r == 1 for r in ranks) / len(ranks), sum(ranks) / len(ranks))


@dataclass(frozen=True)
class Answered:
    """One query in one mode: the answer's reciprocal rank and what came first."""

    text: str
    kind: str
    mode: str
    answer: str
    rank: float
    first: str | None


@dataclass(frozen=True)
class Quality:
    answered: list[Answered]
    created_seconds: float
    embedded_seconds: float

    def score(self, mode: str, kind: str | None = None) -> Score:
        return score([a.rank for a in self.answered if a.mode == mode and kind in (None, a.kind)])


def measure_quality(workdir: Path) -> Quality:
    """The labelled set created on a fresh server, embedded by it, and every query
    asked in every mode."""
    data = load()
    found = problems(data)
    if found:
        raise ValueError("bench/search_set.json breaks its rules: " + "; ".join(found[:3]))
    data_dir = workdir / "quality"
    with ServerProcess(data_dir) as server:
        token = server.token("bench")
        with httpx.Client(
            base_url=f"{server.url}/api",
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ) as api:
            started = time.monotonic()
            ids = create(api, data)
            created = time.monotonic()
            wait_until(
                lambda: saved_vectors(Settings(data_dir=data_dir).database_path) == len(ids),
                timeout=EMBED_TIMEOUT,
                interval=0.1,
                what=f"the server to embed {len(ids)} items",
            )
            embedded = time.monotonic()
            answered = ask(api, data, ids)
    return Quality(answered, created - started, embedded - created)


def create(api: httpx.Client, data: SearchSet) -> dict[str, int]:
    """The set's items created through the API; their ids by key."""
    ids = {}
    for item in data["items"]:
        body = {key: item[key] for key in ("name", "description", "tags")}
        response = api.post("/items", json=body)
        response.raise_for_status()
        ids[item["key"]] = response.json()["id"]
    return ids


def saved_vectors(database: Path) -> int:
    """Items whose vector the server has saved and not been asked to change since."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT count(*) FROM onebin_vectors "
            "WHERE collection = ? AND dirty = 0 AND vector IS NOT NULL",
            (SEMANTIC.name,),
        ).fetchone()[0]


def ask(api: httpx.Client, data: SearchSet, ids: dict[str, int]) -> list[Answered]:
    answered = []
    for query in data["queries"]:
        for mode in MODES:
            response = api.get("/items", params={"q": query["text"], "mode": mode, "limit": LIMIT})
            response.raise_for_status()
            items = response.json()["items"]
            rank = reciprocal_rank([item["id"] for item in items], ids[query["answer"]])
            first = items[0]["name"] if items else None
            answered.append(
                Answered(query["text"], query["kind"], mode, query["answer"], rank, first)
            )
    return answered


def report_quality(quality: Quality, *, misses: bool) -> bool:
    """Prints the table and the targets; whether both targets are met."""
    items = len({a.answer for a in quality.answered})
    print(
        f"\nQuality: {len(quality.answered) // len(MODES)} queries about the labelled set "
        f"(created through the API in {quality.created_seconds:.1f} s; the server's job "
        f"embedded them all {quality.embedded_seconds:.1f} s after the last write; "
        f"{items} distinct answers)\n"
    )
    columns = (*KINDS, None)
    header = "".join(f" {(kind or 'all') + ' top-1':>18} {'MRR':>6}" for kind in columns)
    print(f"{'mode':<10}{header}")
    for mode in MODES:
        cells = "".join(
            f" {s.top1:>18.3f} {s.mrr:>6.3f}"
            for s in (quality.score(mode, kind) for kind in columns)
        )
        print(f"{mode:<10}{cells}")
    counts = "  ".join(f"{kind}: {quality.score('text', kind).queries}" for kind in KINDS)
    print(f"(queries: {counts})")
    paraphrase = quality.score("hybrid", "paraphrase").top1
    paraphrase_ok = paraphrase >= PARAPHRASE_TOP1_TARGET
    hybrid, text = quality.score("hybrid", "exact"), quality.score("text", "exact")
    exact_ok = hybrid.top1 >= text.top1 and hybrid.mrr >= text.mrr
    print(
        f"\nhybrid top-1 on paraphrases: {paraphrase:.3f} "
        f"(target >= {PARAPHRASE_TOP1_TARGET}): {'met' if paraphrase_ok else 'MISSED'}"
    )
    print(
        f"exact queries, hybrid / text: top-1 {hybrid.top1:.3f} / {text.top1:.3f}, "
        f"MRR {hybrid.mrr:.3f} / {text.mrr:.3f} (target: hybrid no worse): "
        f"{'met' if exact_ok else 'MISSED'}"
    )
    if misses:
        print("\nhybrid misses (reciprocal rank < 1): query -> what came first [answer]")
        for a in quality.answered:
            if a.mode == "hybrid" and a.rank < 1:
                print(f"  {a.kind:<10} {a.rank:.2f} {a.text!r} -> {a.first!r} [{a.answer}]")
    return paraphrase_ok and exact_ok
