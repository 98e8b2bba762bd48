"""Replicas benchmark: one onebin on PostgreSQL direct, and behind HAProxy with 1 and 3 replicas.

Run: ``.venv/bin/python bench/replicas.py [--database-url URL]`` (without one it
starts a private PostgreSQL from Debian's binaries; with one it uses a scratch
database on that server, dropped at the end). Needs Debian's ``wrk`` and
``haproxy``. Measures ``GET /api/items/{id}`` (random ids of 10,000 items):

- 1 replica, direct: the reference;
- 1 replica through HAProxy: the balancer's own cost, in throughput and, with one
  client alone (``wrk -t1 -c1``), in latency per request;
- 3 replicas through HAProxy (round-robin, ``/readyz`` checks): scaling, which needs
  cores to show: on a 2-core machine wrk, HAProxy, PostgreSQL and the replicas all
  share the same two, so expect no gain there.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg import scratch_database, seed_postgres
from bench.wrk import RANDOM_GET, Result, wrk
from tests.haproxy import HAProxy
from tests.support import ServerProcess

ITEMS = 10_000
REPLICAS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to use (default: start one)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"bench/replicas.py needs {tool}: apt-get install {tool}", file=sys.stderr)
            return 2
    script = RANDOM_GET % ITEMS
    load = {"duration": args.duration, "connections": args.connections, "script": script}
    alone = {"duration": args.duration, "connections": 1, "threads": 1, "script": script}
    throughput: dict[str, Result] = {}
    latency: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url) as url:
        work = Path(tmp)
        seed_postgres(url, ITEMS, work)
        replicas = [
            ServerProcess(work / f"replica-{n}" / "data", extra_args=("--database-url", url))
            for n in range(REPLICAS)
        ]
        try:
            with ThreadPoolExecutor(REPLICAS) as pool:
                list(pool.map(ServerProcess.start, replicas))
            first = replicas[0].url
            throughput["1 replica, direct"] = wrk(first, **load)
            latency["1 replica, direct"] = wrk(first, **alone)
            one = [replicas[0].port]
            with HAProxy(one, work / "lb1", check_interval_ms=1000) as balancer:
                balancer.wait_for({"r0": "UP"})
                throughput["1 replica, HAProxy"] = wrk(balancer.url, **load)
                latency["1 replica, HAProxy"] = wrk(balancer.url, **alone)
            every = [replica.port for replica in replicas]
            with HAProxy(every, work / "lb3", check_interval_ms=1000) as balancer:
                balancer.wait_for({f"r{n}": "UP" for n in range(REPLICAS)})
                throughput["3 replicas, HAProxy"] = wrk(balancer.url, **load)
                latency["3 replicas, HAProxy"] = wrk(balancer.url, **alone)
        finally:
            for replica in replicas:
                replica.stop()
    print(
        f"\nGET /api/items/{{id}}, {ITEMS} items in PostgreSQL, each replica 1 process; "
        f"wrk -t2 -c{args.connections} -d{args.duration}s, and one client alone (-t1 -c1)\n"
    )
    columns = ("req/s", 9), ("p50 ms", 7), ("p99 ms", 7), ("alone p50 ms", 13), ("non-2xx", 8)
    print(f"{'setup':<22}" + "".join(f" {title:>{width}}" for title, width in columns))
    for name, result in throughput.items():
        print(
            f"{name:<22} {result.rps:>9,.0f} {result.p50_ms:>7.2f} {result.p99_ms:>7.2f} "
            f"{latency[name].p50_ms:>13.3f} {result.errors + latency[name].errors:>8}"
        )
    direct, through = throughput["1 replica, direct"], throughput["1 replica, HAProxy"]
    added = (latency["1 replica, HAProxy"].p50_ms - latency["1 replica, direct"].p50_ms) * 1000
    print(
        f"\nHAProxy's own cost, 1 replica: {through.rps / direct.rps:.2f}x the direct "
        f"throughput; one client alone: +{added:.0f} us per request (p50)"
    )
    print(
        f"3 replicas / 1 replica, both through HAProxy: "
        f"{throughput['3 replicas, HAProxy'].rps / through.rps:.2f}x (all on the same cores)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
