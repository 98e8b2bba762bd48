"""Start-up time and idle memory of the built artifacts against the plain virtualenv.

For each way of running onebin this measures the time from exec to the first 200
from GET /healthz, and the resident memory of the whole process tree right after
it. "cold" is the first run on a machine: every run gets an empty cache, so the
executable unpacks its payload (XDG_CACHE_HOME), the zipapp unpacks its
site-packages (SHIV_ROOT) and the virtualenv compiles its byte-code
(PYTHONPYCACHEPREFIX). "warm" reuses the cache one cold run filled. The OS page
cache is not dropped (that would disturb everything else on a shared machine), so
"cold" means "nothing onebin-specific on disk yet".

    .venv/bin/python bench/startup.py [--runs 5] [--dist dist]

It measures dist/portable/onebin too when ``make dist-portable`` has built it.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 30.0


@dataclass(frozen=True)
class Runner:
    name: str
    command: list[str]
    cache_variable: str
    size: int | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def tree_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and all its descendants (PyInstaller one-file runs a child)."""
    total = 0
    pending = [pid]
    for _ in range(1000):
        if not pending:
            break
        current = pending.pop()
        status = Path(f"/proc/{current}/status").read_text()
        total += int(status.split("VmRSS:")[1].split()[0])
        for task in Path(f"/proc/{current}/task").iterdir():
            pending += [int(child) for child in (task / "children").read_text().split()]
    return total


def start_once(runner: Runner, cache: Path, scratch: Path) -> tuple[float, int]:
    """Seconds from exec to the first healthy answer, and the tree's RSS in KiB then."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), runner.cache_variable: str(cache)}
    command = [*runner.command, "serve", "--port", str(port), "--data-dir", str(workdir / "data")]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while not healthy(port):
            if process.poll() is not None:
                raise SystemExit(f"{runner.name} exited with {process.returncode}")
            if time.perf_counter() - started > DEADLINE:
                raise SystemExit(f"{runner.name} did not answer within {DEADLINE}s")
            time.sleep(0.002)
        elapsed = time.perf_counter() - started
        return elapsed, tree_rss_kib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(runner: Runner, runs: int, scratch: Path) -> dict[str, list[float]]:
    cold, warm, rss = [], [], []
    for _ in range(runs):
        cache = Path(tempfile.mkdtemp(dir=scratch))
        seconds, _ = start_once(runner, cache, scratch)
        cold.append(seconds)
        seconds, kib = start_once(runner, cache, scratch)
        warm.append(seconds)
        rss.append(kib / 1024)
    return {"cold": cold, "warm": warm, "rss": rss}


def runners(dist: Path) -> list[Runner]:
    python3 = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
    found = [
        Runner(
            "venv (.venv/bin/onebin)", [str(ROOT / ".venv/bin/onebin")], "PYTHONPYCACHEPREFIX", None
        )
    ]
    executable, zipapp = dist / "onebin", dist / "onebin.pyz"
    # make dist-portable's executable, with its own interpreter and libraries
    for path in (executable, dist / "portable" / "onebin"):
        if path.exists():
            found.append(Runner(str(path), [str(path)], "XDG_CACHE_HOME", path.stat().st_size))
    if zipapp.exists():
        size = zipapp.stat().st_size
        found.append(
            Runner(f"{zipapp} (system python3)", [python3, str(zipapp)], "SHIV_ROOT", size)
        )
    return found


def spread(values: list[float], unit: str, digits: int) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument(
        "--executable",
        type=Path,
        action="append",
        default=[],
        help="another executable to compare, e.g. a plain PyInstaller --onefile build",
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="onebin-startup-"))
    try:
        print(f"median (min-max) of {args.runs} runs")
        print("| artifact | size | cold start | warm start | idle RSS |")
        print("|---|---|---|---|---|")
        extra = [
            Runner(str(path), [str(path)], "XDG_CACHE_HOME", path.stat().st_size)
            for path in args.executable
        ]
        for runner in [*runners(args.dist), *extra]:
            figures = measure(runner, args.runs, scratch)
            size = f"{runner.size / 1_000_000:.1f} MB" if runner.size else "-"
            print(
                f"| {runner.name} | {size} | {spread(figures['cold'], 's', 2)} "
                f"| {spread(figures['warm'], 's', 2)} | {spread(figures['rss'], 'MB', 0)} |",
                flush=True,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
