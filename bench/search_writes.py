"""What semantic search costs writes: POST /api/items with and without embeddings.

Two real servers, each seeded with the same 10,000 items: the items app as it is
(every write marks its item, and the server's background job embeds it within about a
second, competing with requests for the CPU) and ``bench.plain_items``, the same app
with semantic search taken out. wrk POSTs items with a 20-word description (embedding
cost grows with the text; bench/api.py's POST has none) to each in turn, round after
round, so load that comes and goes on a shared machine weighs on both alike. After each
round on the first server, the rows it has not embedded yet are counted and the time
it takes to embed them timed; the plain server's round starts only once that backlog
is gone, so its round never shares the CPU with the other's job.

Besides requests/s, each server's CPU time per request (the embedding of the backlog
included): on cores that other work shares, that is the steadier measure of cost.
"""

from __future__ import annotations

import random
import sqlite3
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path

from bench.api import server_cpu
from bench.search_set import load, words
from bench.wrk import Result, wrk
from onebin.config import Settings
from onebin.items import SEMANTIC
from tests.seed import seed_items
from tests.support import ServerProcess, make_token, wait_until

ROOT = Path(__file__).resolve().parent.parent
ITEMS = 10_000
DESCRIPTION_WORDS = 20
RATIO_TARGET = 0.8
CATCH_UP_TIMEOUT = 900.0
POLL = 0.1
SERVERS = {"with embeddings": (), "without (plain)": ("--app", "bench.plain_items:app")}

POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
local words = {%s}
local picked = {}
counter = 0
request = function()
  counter = counter + 1
  for i = 1, %d do picked[i] = words[math.random(1, #words)] end
  return wrk.format(nil, nil, nil, '{"name":"bench ' .. counter .. ' ' .. picked[1] ..
    '","tags":["bench"],"description":"' .. table.concat(picked, " ") .. '"}')
end
"""


def post_script(token: str) -> str:
    """wrk's POST of items described in the labelled set's English words (JSON-safe:
    lower-case letters and digits), so the model sees text like a shop's."""
    vocabulary = sorted({w for item in load()["items"] for w in words(item["description"])})
    chosen = random.Random(3).sample(vocabulary, min(400, len(vocabulary)))
    return POST % (token, ", ".join(f'"{w}"' for w in chosen), DESCRIPTION_WORDS)


def dirty_rows(database: Path) -> int:
    """Rows written but not embedded yet (marked since their vector was saved)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT count(*) FROM onebin_vectors WHERE collection = ? AND dirty > 0",
            (SEMANTIC.name,),
        ).fetchone()[0]


@dataclass(frozen=True)
class Backlog:
    rows: int
    seconds: float


@dataclass
class Rounds:
    results: list[Result] = field(default_factory=list)
    cpu_seconds: float = 0.0
    backlogs: list[Backlog] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return sum(r.rps for r in self.results) / len(self.results)

    def cpu_us_per_request(self, duration: int) -> float:
        return self.cpu_seconds / (sum(r.rps for r in self.results) * duration) * 1e6


def measure_writes(
    workdir: Path, *, rounds: int, duration: int, connections: int
) -> dict[str, Rounds]:
    measured = {name: Rounds() for name in SERVERS}
    with ExitStack() as stack:
        servers, scripts = {}, {}
        for number, (name, args) in enumerate(SERVERS.items()):
            data_dir = workdir / f"writes-{number}"
            seed_items(data_dir, ITEMS)
            scripts[name] = post_script(make_token(data_dir, "bench"))
            # The repository's root is the current directory: --app finds bench there.
            servers[name] = stack.enter_context(ServerProcess(data_dir, extra_args=args, cwd=ROOT))
        embedding = Settings(data_dir=servers["with embeddings"].data_dir).database_path
        for _ in range(rounds):
            for name, server in servers.items():
                before = server_cpu(server)
                measured[name].results.append(
                    wrk(
                        f"{server.url}/api/items",
                        script=scripts[name],
                        duration=duration,
                        connections=connections,
                    )
                )
                if name == "with embeddings":
                    measured[name].backlogs.append(catch_up(embedding))
                measured[name].cpu_seconds += server_cpu(server) - before
    return measured


def catch_up(database: Path) -> Backlog:
    """The rows left to embed now, and how long the server takes to embed them."""
    started = time.monotonic()
    behind = dirty_rows(database)
    wait_until(
        lambda: dirty_rows(database) == 0,
        timeout=CATCH_UP_TIMEOUT,
        interval=POLL,
        what="the embedding job to catch up",
    )
    return Backlog(behind, time.monotonic() - started)


def report_writes(
    measured: dict[str, Rounds], *, rounds: int, duration: int, connections: int
) -> bool:
    """Prints the table and the ratio; whether the target is met."""
    print(
        f"\nWrites: POST /api/items ({DESCRIPTION_WORDS}-word descriptions), {ITEMS:,} items "
        f"seeded, wrk -t2 -c{connections} -d{duration}s x {rounds} rounds, one worker\n"
    )
    print(
        f"{'server':<17} {'req/s per round':<26} {'mean req/s':>10} {'p99 ms':>7} "
        f"{'non-2xx':>8} {'CPU us/req':>10}"
    )
    for name, each in measured.items():
        per_round = " ".join(f"{r.rps:,.0f}" for r in each.results)
        p99 = max(r.p99_ms for r in each.results)
        errors = sum(r.errors for r in each.results)
        print(
            f"{name:<17} {per_round:<26} {each.rps:>10,.0f} {p99:>7.1f} {errors:>8} "
            f"{each.cpu_us_per_request(duration):>10.1f}"
        )
    semantic, plain = measured["with embeddings"], measured["without (plain)"]
    ratio = semantic.rps / plain.rps
    by_cpu = plain.cpu_us_per_request(duration) / semantic.cpu_us_per_request(duration)
    print(
        f"\nwith / without embeddings: {ratio:.2f}x req/s, {by_cpu:.2f}x by server CPU per "
        f"request, embedding included (target >= {RATIO_TARGET}x req/s): "
        f"{'met' if ratio >= RATIO_TARGET else 'MISSED'}"
    )
    for number, (result, backlog) in enumerate(
        zip(semantic.results, semantic.backlogs, strict=True), start=1
    ):
        print(
            f"round {number}: {backlog.rows:,} of ~{result.rps * duration:,.0f} items written "
            f"still to embed when wrk stopped; all embedded {backlog.seconds:.1f} s later "
            f"(polled every {POLL} s)"
        )
    return ratio >= RATIO_TARGET
