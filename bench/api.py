"""API benchmark: wrk against a real ``onebin serve`` with 10,000 items.

Run: ``make bench`` (or ``.venv/bin/python bench/api.py --duration 10``). Prints one
table: requests/s and p99 for ``GET /api/items/{id}`` (random ids),
``GET /api/items?limit=20``, ``POST /api/items``, and a small static file from the
same server in the same run, plus the ratios the targets are stated in (item GET vs
static file, POST vs item GET). Needs Debian's ``wrk``.

``--database-url URL`` measures the same requests on PostgreSQL too, in the same
run, and prints both columns with the ratio (target: the item GET on PostgreSQL at
least 0.5x SQLite's). The run creates a scratch database on that server and drops
it at the end (bench/pg.py); ``--database-url auto`` starts a private PostgreSQL
from Debian's binaries instead. Both servers run through the whole run, and each
measurement runs on SQLite then at once on PostgreSQL, so a noisy neighbour on a
shared machine weighs on both columns about alike.

``--access-log-cost`` measures only what the access log costs: ``GET
/api/items/{id}`` on two servers, one with the access log on (its lines going to a
file, as ``ServerProcess`` sends stderr) and one with ``--access-log off``, in
alternating rounds, and prints the ratio (target: the log costs < 10% of
throughput, i.e. on / off >= 0.9x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg import scratch_database, seed_postgres
from bench.wrk import RANDOM_GET, Result, wrk
from tests.seed import seed_items
from tests.server.processes import workers_of
from tests.support import ServerProcess, make_token

ITEMS = 10_000

POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"name":"bench ' .. counter .. '","tags":["bench"]}')
end
"""


MEASUREMENTS = (
    ("static file (/robots.txt)", "/robots.txt", None),
    ("GET /api/items/{id}", "", RANDOM_GET % ITEMS),
    ("GET /api/items?limit=20", "/api/items?limit=20", None),
    ("POST /api/items", "/api/items", POST),
)


@contextmanager
def sqlite_server(workdir: Path, workers: int) -> Iterator[tuple[ServerProcess, str]]:
    data_dir = workdir / "sqlite"
    seed_items(data_dir, ITEMS)
    token = make_token(data_dir, "bench")
    with ServerProcess(data_dir, extra_args=("--workers", str(workers))) as server:
        yield server, token


@contextmanager
def postgres_server(
    workdir: Path, workers: int, database_url: str
) -> Iterator[tuple[ServerProcess, str]]:
    with scratch_database(None if database_url == "auto" else database_url) as url:
        token = seed_postgres(url, ITEMS, workdir)
        extra = ("--workers", str(workers), "--database-url", url)
        with ServerProcess(workdir / "postgres", extra_args=extra) as server:
            yield server, token


def run_all(workdir: Path, args: argparse.Namespace) -> dict[str, dict[str, Result]]:
    """Every measurement on each engine, the engines back to back per measurement:
    on a shared machine, load that comes and goes then hits both about alike."""
    results: dict[str, dict[str, Result]] = {"sqlite": {}}
    with ExitStack() as stack:
        servers = {"sqlite": stack.enter_context(sqlite_server(workdir, args.workers))}
        if args.database_url:
            results["postgresql"] = {}
            servers["postgresql"] = stack.enter_context(
                postgres_server(workdir, args.workers, args.database_url)
            )
        for name, path, script in MEASUREMENTS:
            for engine, (server, token) in servers.items():
                lua = script % token if script is POST else script
                results[engine][name] = wrk(
                    f"{server.url}{path}",
                    script=lua,
                    duration=args.duration,
                    connections=args.connections,
                )
    return results


def server_cpu(server: ServerProcess) -> float:
    """CPU seconds the server's processes (supervisor and workers) have used so far."""
    assert server.process is not None
    pid = server.process.pid
    pids = [pid, *workers_of(pid)]
    ticks = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def access_log_cost(workdir: Path, args: argparse.Namespace) -> int:
    """GET /api/items/{id} with the access log on and off, round after round: load
    that comes and goes on a shared machine then weighs on both alike.

    Beside requests/s, the server's CPU time per request: on a machine whose cores
    other work shares, it measures the cost itself where requests/s swing with the
    neighbours (the server is CPU-bound, so its CPU per request is its capacity).
    """
    rounds: dict[str, list[Result]] = {"on": [], "off": []}
    cpu = {"on": 0.0, "off": 0.0}
    with ExitStack() as stack:
        servers = {}
        for mode in rounds:
            data_dir = workdir / f"access-{mode}"
            seed_items(data_dir, ITEMS)
            extra = ("--workers", str(args.workers), "--access-log", mode)
            extra += ("--log-format", args.log_format)
            servers[mode] = stack.enter_context(ServerProcess(data_dir, extra_args=extra))
        for _ in range(args.rounds):
            for mode, server in servers.items():
                before = server_cpu(server)
                rounds[mode].append(
                    wrk(
                        server.url,
                        script=RANDOM_GET % ITEMS,
                        duration=args.duration,
                        connections=args.connections,
                    )
                )
                cpu[mode] += server_cpu(server) - before
        logged = servers["on"].log().count("onebin.access")
    print(
        f"\nGET /api/items/{{id}}, {ITEMS} items, wrk -t2 -c{args.connections} "
        f"-d{args.duration}s x {args.rounds} rounds, {args.workers} worker process(es), "
        f"--log-format {args.log_format}\n"
    )
    print(
        f"{'access log':<12} {'req/s per round':<40} {'mean req/s':>10} {'p99 ms':>7} "
        f"{'CPU us/req':>10}"
    )
    mean, per_request = {}, {}
    for mode, results in rounds.items():
        mean[mode] = sum(r.rps for r in results) / len(results)
        per_request[mode] = cpu[mode] / (sum(r.rps for r in results) * args.duration) * 1e6
        each = " ".join(f"{r.rps:,.0f}" for r in results)
        p99 = max(r.p99_ms for r in results)
        print(f"{mode:<12} {each:<40} {mean[mode]:>10,.0f} {p99:>7.2f} {per_request[mode]:>10.1f}")
    print(
        f"\naccess log on / off: {mean['on'] / mean['off']:.3f}x req/s, "
        f"{per_request['off'] / per_request['on']:.3f}x by server CPU per request "
        f"(target >= 0.9x); {logged:,} access lines written"
    )
    return 0


def print_table(results: dict[str, dict[str, Result]]) -> None:
    engines = list(results)
    header = f"{'request':<28}" + "".join(f" {e + ' req/s':>16} {'p99 ms':>7}" for e in engines)
    if len(engines) == 2:
        header += f" {'pg/sqlite':>10}"
    print(header)
    for name in results[engines[0]]:
        line = f"{name:<28}"
        for engine in engines:
            result = results[engine][name]
            errors = f" ({result.errors} non-2xx)" if result.errors else ""
            line += f" {result.rps:>16,.0f} {result.p99_ms:>7.2f}{errors}"
        if len(engines) == 2:
            line += f" {results['postgresql'][name].rps / results['sqlite'][name].rps:>9.2f}x"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="onebin serve --workers")
    parser.add_argument(
        "--database-url",
        help="also measure PostgreSQL (a scratch database on this server); 'auto' starts one",
    )
    parser.add_argument(
        "--access-log-cost",
        action="store_true",
        help="only GET /api/items/{id}, access log on vs off, and their ratio",
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --access-log-cost")
    parser.add_argument("--log-format", default="text", help="with --access-log-cost")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/api.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    if args.access_log_cost:
        with tempfile.TemporaryDirectory() as tmp:
            return access_log_cost(Path(tmp), args)
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(Path(tmp), args)
    print(
        f"\n{ITEMS} items, wrk -t2 -c{args.connections} -d{args.duration}s, "
        f"{args.workers} worker process(es)\n"
    )
    print_table(results)
    for engine, measured in results.items():
        get = measured["GET /api/items/{id}"]
        static = measured["static file (/robots.txt)"]
        post = measured["POST /api/items"]
        print(
            f"\n{engine}: GET /api/items/{{id}} / static file: {get.rps / static.rps:.2f}x "
            f"(target >= 0.5x, p99 < 10 ms)"
        )
        print(
            f"{engine}: POST /api/items / GET /api/items/{{id}}: {post.rps / get.rps:.2f}x "
            f"(target >= 0.35x, POST p99 < 20 ms; each POST durable before its 201)"
        )
    if "postgresql" in results:
        pg = results["postgresql"]["GET /api/items/{id}"].rps
        lite = results["sqlite"]["GET /api/items/{id}"].rps
        print(
            f"\nPostgreSQL / SQLite, GET /api/items/{{id}}: {pg / lite:.2f}x (target >= 0.5x; "
            "PostgreSQL on the same cores, fsync on)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
