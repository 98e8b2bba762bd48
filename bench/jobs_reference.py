"""huey's SQLite storage, enqueue one by one: the reference bench/jobs.py runs beside onebin.

Runs in a throwaway venv with huey (bench/jobs.py --reference makes it under /tmp), not
in onebin's: ``python bench/jobs_reference.py COUNT``. Prints ``name jobs/s`` lines:
huey's own ``task()`` call (one transaction per job) with its default storage settings
(WAL, SQLite's default synchronous) and with ``fsync=True`` (synchronous=FULL, as onebin).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from huey import SqliteHuey


def rate(count: int, **storage: object) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        huey = SqliteHuey("bench", filename=str(Path(tmp) / "huey.db"), **storage)

        @huey.task()
        def noop(n: int) -> None:
            return None

        noop(-1)  # the table and the connection exist before the clock starts
        started = time.perf_counter()
        for n in range(count):
            noop(n)
        return count / (time.perf_counter() - started)


def main() -> int:
    count = int(sys.argv[1])
    print(f"single {rate(count):.1f}")
    print(f"single_fsync {rate(count, fsync=True):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
