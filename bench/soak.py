"""Soak: mixed reads, writes and static requests against a real server for minutes.

Run: ``.venv/bin/python bench/soak.py --minutes 5``. Prints requests, error rate,
p99 and the server's RSS after warm-up and at the end (flat RSS means no leak).
The test suite runs the same driver for 20 seconds (tests/test_reliability.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.load import soak
from tests.support import ServerProcess, make_token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        token = make_token(data_dir, "soak")
        with ServerProcess(data_dir) as server:
            result = soak(
                server.url,
                token,
                server.process.pid,
                seconds=args.minutes * 60,
                clients=args.clients,
            )
    print(f"soak {args.minutes} min, {args.clients} clients, 1 server process")
    print(f"requests        {result.requests:,}")
    print(f"errors          {result.errors} ({result.error_rate:.4%})")
    print(f"p99             {result.p99_ms:.1f} ms")
    print(f"RSS after warm-up {result.rss_start_kib / 1024:.1f} MiB")
    print(f"RSS at end        {result.rss_end_kib / 1024:.1f} MiB")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
