"""API benchmark: wrk against a real ``onebin serve`` with 10,000 items.

Run: ``make bench`` (or ``.venv/bin/python bench/api.py --duration 10``). Prints one
table: requests/s and p99 for ``GET /api/items/{id}`` (random ids),
``GET /api/items?limit=20``, ``POST /api/items``, and a small static file from the
same server in the same run, plus the ratios the targets are stated in (item GET vs
static file, POST vs item GET). Needs Debian's ``wrk``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import RANDOM_GET, wrk
from tests.seed import seed_items
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="onebin serve --workers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/api.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        seed_items(data_dir, ITEMS)
        token = make_token(data_dir, "bench")
        server = ServerProcess(data_dir, extra_args=("--workers", str(args.workers))).start()
        try:
            run = {"duration": args.duration, "connections": args.connections}
            results = {
                "static file (/robots.txt)": wrk(f"{server.url}/robots.txt", script=None, **run),
                "GET /api/items/{id}": wrk(server.url, script=RANDOM_GET % ITEMS, **run),
                "GET /api/items?limit=20": wrk(
                    f"{server.url}/api/items?limit=20", script=None, **run
                ),
                "POST /api/items": wrk(f"{server.url}/api/items", script=POST % token, **run),
            }
        finally:
            server.stop()
    print(
        f"\n{ITEMS} items, wrk -t2 -c{args.connections} -d{args.duration}s, "
        f"{args.workers} worker process(es)\n"
    )
    print(f"{'request':<28} {'req/s':>10} {'p99 ms':>8} {'non-2xx':>8}")
    for name, result in results.items():
        print(f"{name:<28} {result.rps:>10,.0f} {result.p99_ms:>8.2f} {result.errors:>8}")
    get = results["GET /api/items/{id}"]
    ratio = get.rps / results["static file (/robots.txt)"].rps
    print(f"\nGET /api/items/{{id}} / static file: {ratio:.2f}x (target >= 0.5x, p99 < 10 ms)")
    post = results["POST /api/items"]
    print(
        f"POST /api/items / GET /api/items/{{id}}: {post.rps / get.rps:.2f}x "
        f"(target >= 0.35x, POST p99 < 20 ms; each POST durable before its 201)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
