"""Backup benchmark: a large database copied idle and under steady writes, in one run.

Run: ``.venv/bin/python bench/backup.py`` (``--items`` to change the size). Prints
the backup's time on an idle server and under 8 writing clients, and the server's
write rate without and with a backup running; the targets are stated as ratios:
under load the backup takes about its idle time, and the write rate is not halved.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.load import WriterLog, run_writers
from tests.seed import seed_items
from tests.support import ONEBIN, ServerProcess, make_token


def timed_backup(data_dir: Path, destination: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [*ONEBIN, "backup", str(destination), "--force", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def write_rate(log: WriterLog, seconds: float) -> float:
    before = log.count()
    time.sleep(seconds)  # measuring over a window, not waiting for an event
    return (log.count() - before) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=250_000, help="items seeded (~1 KB each)")
    parser.add_argument("--writers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        seed_items(data_dir, args.items, describe=lambda i: f"filler text {i} " * 60)
        size_mb = (data_dir / "onebin.sqlite3").stat().st_size / 1e6
        token = make_token(data_dir, "bench")
        server = ServerProcess(data_dir).start()
        log, stop = WriterLog(), threading.Event()
        try:
            idle = timed_backup(data_dir, work / "idle.sqlite3")
            threads = run_writers(
                server.url, token, log, clients=args.writers, stop=stop, prefix="b"
            )
            rate_alone = write_rate(log, 5)
            durations: list[float] = []

            def back_up_repeatedly() -> None:
                while not stop.is_set():
                    durations.append(timed_backup(data_dir, work / "loaded.sqlite3"))

            backups = threading.Thread(target=back_up_repeatedly)
            backups.start()
            rate_with_backup = write_rate(log, max(5.0, 2 * idle))
            stop.set()
            backups.join()
            for thread in threads:
                thread.join(timeout=15)
        finally:
            stop.set()
            server.stop()
    loaded = sum(durations) / len(durations)
    print(f"\n{size_mb:.0f} MB database, {args.writers} writing clients\n")
    print(f"{'':<32} {'value':>10}")
    print(f"{'backup, idle server':<32} {idle:>9.2f}s")
    print(f"{'backup, under writes (mean)':<32} {loaded:>9.2f}s  ({len(durations)} backups)")
    print(f"{'writes/s without a backup':<32} {rate_alone:>10,.0f}")
    print(f"{'writes/s while backing up':<32} {rate_with_backup:>10,.0f}")
    print(f"\nbackup under writes / idle: {loaded / idle:.2f}x (target: about 1x)")
    print(f"write rate with / without backup: {rate_with_backup / rate_alone:.2f}x (target > 0.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
