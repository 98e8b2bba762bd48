"""Jobs and events benchmark: enqueue, drain and SSE fan-out on SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/jobs.py [--quick]``. PostgreSQL is a private cluster from
Debian's binaries (tests/postgres.py, fsync on), as ``bench/api.py --database-url auto``
starts. Prints one table, each engine's column side by side, with the anchors of the
issue beside them as ratios:

1. Enqueue per second through the real ``Database`` (``open_database`` with the items
   app and default settings, so SQLite commits with ``synchronous=FULL``):
   one job per ``db.write`` awaited one after another (latency bound: one durable
   commit each), the same from 64 concurrent writers (what a loaded server does:
   SQLite group-commits them), and 100 jobs per write.
2. Drain per second: ``--jobs`` jobs queued, then the real ``JobRunner`` with a
   handler that does nothing, ``concurrency`` 1 and 4 (``--job-workers 1``/``4``),
   in this process, timed until no job is left queued or running; then the same in
   a real ``onebin serve --app bench.jobapp:app`` process (the jobs queued due
   tomorrow, made due at once by one UPDATE when it answers, timed from that commit).
3. SSE fan-out: a real ``onebin serve`` (1 process; ``--sse-workers``),
   ``--subscribers`` clients on ``GET /api/events`` from two client processes
   (asyncio, uvloop, raw HTTP), then ``--changes`` ``POST /api/items`` at ``--rate``
   per second; per delivery, the time from the event's own ``time`` (stamped in the
   write, ms precision, same host clock) to receipt, and from the POST's 201 to
   receipt; lost and duplicated events.

The machine has 2 cores shared by the server, PostgreSQL, the clients and anything
else running: the load average at start and end is printed, and each SSE run shows
the CPU seconds the server and the clients used, so a saturated client shows.

Anchors (fixed figures from /work/shared/notes/performance-anchors.md, measured on
this kind of machine): PgQueuer drains ~3,500 jobs/s with one worker, enqueues
1,400-3,700/s one by one and 28,000-33,000/s batched; huey's SQLite storage
8,600-25,000 enqueues/s. huey's SQLite enqueue is also run side by side
(bench/jobs_reference.py, in a throwaway venv under /tmp that the first run installs
from PyPI; ``--no-reference`` skips it). PgQueuer is not run here: the anchors stand.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.jobapp import KIND  # noqa: E402
from bench.jobapp import app as bench_app  # noqa: E402
from onebin.compose import CHANNELS, open_database  # noqa: E402
from onebin.config import Settings  # noqa: E402
from onebin.items import app as items_app  # noqa: E402
from onebin.jobs.queue import JobQueue  # noqa: E402
from onebin.jobs.runner import JobRunner  # noqa: E402
from onebin.store.database import Engine  # noqa: E402
from onebin.store.notices import notices_for  # noqa: E402
from onebin.store.tokens import TokenStore  # noqa: E402
from tests.postgres import PostgresServer, running_postgres  # noqa: E402
from tests.support import ServerProcess  # noqa: E402

ENGINES = ("sqlite", "postgresql")
CONCURRENT_WRITERS = 64
BATCH = 100
PREFILL_BATCH = 1000
POLL = 0.02
SSE_CLIENTS = 2
REMAINING = (
    "SELECT count(*) AS n FROM onebin_jobs WHERE state IN ('queued', 'running') "
    f"AND kind = '{KIND}'"
)

# The anchors: (low, high) of each range; one figure is (x, x).
PGQUEUER_DRAIN = (3500.0, 3500.0)
PGQUEUER_SINGLE = (1400.0, 3700.0)
PGQUEUER_BATCH = (28000.0, 33000.0)
HUEY_SQLITE = (8600.0, 25000.0)
DRAIN_TARGET = 3500.0
SSE_P99_TARGET_MS = 100.0
HUEY_VERSION = "3.5.4"


@dataclass(frozen=True)
class Sizes:
    single: int
    concurrent: int
    batched: int
    drain: int
    subscribers: int
    changes: int
    rate: float


def sizes(args: argparse.Namespace) -> Sizes:
    if args.quick:
        return Sizes(300, 2000, 5000, args.jobs or 3000, args.subscribers or 200, 40, args.rate)
    return Sizes(
        1500, 10_000, 20_000, args.jobs or 20_000, args.subscribers or 1000, args.changes, args.rate
    )


# Databases: a fresh one per measurement, of either engine.


class Databases:
    """Fresh settings per measurement: a new SQLite data dir, or a new PostgreSQL database."""

    def __init__(self, work: Path, postgres: PostgresServer | None) -> None:
        self.work = work
        self.postgres = postgres
        self._count = 0

    def settings(self, engine: str) -> Settings:
        self._count += 1
        data_dir = self.work / f"{engine}-{self._count}" / "data"
        url = None
        if engine == "postgresql":
            assert self.postgres is not None
            url = self.postgres.create_database()
        return Settings(data_dir=data_dir, database_url=url)


def job_queue(db: Engine) -> JobQueue:
    return JobQueue(db, notices_for(db, CHANNELS))


async def noop(job: Any) -> None:
    return None


# 1. Enqueue.


async def enqueue_rates(db: Engine, size: Sizes) -> dict[str, float]:
    queue = job_queue(db)

    def one(n: int, conn: Any) -> int | None:
        return queue.enqueue(conn, KIND, {"n": n})

    def many(start: int, conn: Any) -> list[int | None]:
        return [queue.enqueue(conn, KIND, {"n": n}) for n in range(start, start + BATCH)]

    rates = {}
    started = time.perf_counter()
    for n in range(size.single):
        await db.write(functools.partial(one, n))
    rates["single"] = size.single / (time.perf_counter() - started)

    per_writer = size.concurrent // CONCURRENT_WRITERS

    async def writer(first: int) -> None:
        for n in range(first, first + per_writer):
            await db.write(functools.partial(one, n))

    started = time.perf_counter()
    await asyncio.gather(*(writer(w * per_writer) for w in range(CONCURRENT_WRITERS)))
    rates["concurrent"] = per_writer * CONCURRENT_WRITERS / (time.perf_counter() - started)

    started = time.perf_counter()
    for start in range(0, size.batched, BATCH):
        await db.write(functools.partial(many, start))
    rates["batched"] = size.batched / (time.perf_counter() - started)
    return rates


def measure_enqueue(databases: Databases, engine: str, size: Sizes) -> dict[str, float]:
    db = open_database(databases.settings(engine), items_app)
    try:
        return asyncio.run(enqueue_rates(db, size))
    finally:
        db.close()


# 2. Drain.


def prefill(db: Engine, count: int, run_at: float | None = None) -> None:
    queue = job_queue(db)

    def fill(first: int, conn: Any) -> None:
        for n in range(first, min(first + PREFILL_BATCH, count)):
            queue.enqueue(conn, KIND, {"n": n}, run_at=run_at)

    for first in range(0, count, PREFILL_BATCH):
        db.write_sync(functools.partial(fill, first))


def finished(db: Engine) -> tuple[int, int]:
    """(jobs done, the most attempts any job took)."""
    row = db.read_sync(
        lambda conn: conn.execute(
            "SELECT count(*) AS n, max(attempts) AS a FROM onebin_jobs WHERE state = 'done'"
        ).fetchone()
    )
    return int(row["n"]), int(row["a"] or 0)


@dataclass
class Drain:
    rate: float = 0.0
    note: str = ""


async def drain_in_process(db: Engine, count: int, workers: int) -> float:
    notices = notices_for(db, CHANNELS)
    await notices.start()
    queue = JobQueue(db, notices)
    runner = JobRunner(queue, {KIND: noop}, concurrency=workers, graceful_timeout=5.0)
    remaining = functools.partial(_remaining, db)
    started = time.perf_counter()
    await runner.start()
    try:
        while await db.read(remaining):
            await asyncio.sleep(POLL)
        elapsed = time.perf_counter() - started
    finally:
        await runner.stop()
        await notices.stop()
    return count / elapsed


def _remaining(db: Engine, conn: Any) -> int:
    return int(conn.execute(REMAINING).fetchone()["n"])


def measure_drain(databases: Databases, engine: str, count: int, workers: int) -> Drain:
    db = open_database(databases.settings(engine), items_app)
    try:
        prefill(db, count)
        rate = asyncio.run(drain_in_process(db, count, workers))
        done, attempts = finished(db)
    finally:
        db.close()
    note = "" if done == count and attempts == 1 else f"{done}/{count} done, attempts<={attempts}"
    return Drain(rate, note)


def measure_serve_drain(databases: Databases, engine: str, count: int, workers: int) -> Drain:
    """The same drain by a real ``onebin serve`` process with ``--job-workers``.

    The jobs are queued due tomorrow; once the server answers, one UPDATE makes them
    all due now (with the notice an enqueue sends, on PostgreSQL) and the clock starts.
    """
    settings = databases.settings(engine)
    db = open_database(settings, bench_app)
    try:
        prefill(db, count, run_at=time.time() + 86_400)
    finally:
        db.close()
    args = ("--app", "bench.jobapp:app", "--job-workers", str(workers))
    if settings.database_url:
        args += ("--database-url", settings.database_url)
    server = ServerProcess(settings.data_dir, extra_args=args, cwd=ROOT)
    with server, plain_connection(settings) as (conn, mark):
        conn.execute(
            f"UPDATE onebin_jobs SET run_at = {mark} WHERE kind = {mark}", (time.time(), KIND)
        )
        if settings.database_url:
            conn.execute("SELECT pg_notify('onebin_jobs', '')")
        conn.commit()
        started = time.time()
        while conn.execute(REMAINING).fetchone()[0]:
            conn.commit()  # a new snapshot for the next look (PostgreSQL)
            time.sleep(POLL)
        elapsed = time.time() - started
        done, attempts = conn.execute(
            "SELECT count(*), max(attempts) FROM onebin_jobs "
            f"WHERE state = 'done' AND kind = '{KIND}'"
        ).fetchone()
    note = "" if done == count and attempts == 1 else f"{done}/{count} done, attempts<={attempts}"
    return Drain(count / elapsed, note)


@contextmanager
def plain_connection(settings: Settings) -> Iterator[tuple[Any, str]]:
    """A connection of the driver itself, from outside the server, and its parameter mark."""
    if settings.database_url:
        with psycopg.connect(settings.database_url) as conn:
            yield conn, "%s"
        return
    conn = sqlite3.connect(settings.database_path, timeout=10)
    try:
        yield conn, "?"
    finally:
        conn.close()


# 3. SSE fan-out.


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class SseClient(asyncio.Protocol):
    """One ``GET /api/events``: chunked transfer decoded, each SSE message timed on arrival."""

    def __init__(self, port: int, stamps: dict[str, float], ready: Callable[[], None]) -> None:
        self.request = (
            b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n\r\n"
            % port
        )
        self.stamps = stamps  # the event's "time" text -> epoch seconds, shared
        self.ready = ready
        self.opened = False
        self.closed = False
        self.status = 0
        self.raw = b""
        self.need = 0
        self.text = b""
        self.items: list[int] = []  # the item id of each event received
        self.latency: list[float] = []  # receipt - the event's time, seconds
        self.arrived: list[tuple[int, float]] = []  # (item id, receipt time)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.raw += data
        if not self.status:
            head, sep, rest = self.raw.partition(b"\r\n\r\n")
            if not sep:
                return
            self.status = int(head.split(b" ", 2)[1])
            self.raw = rest
        while True:
            if not self.need:
                line, sep, rest = self.raw.partition(b"\r\n")
                if not sep:
                    break
                size = int(line.split(b";")[0], 16)
                self.raw = rest
                if size == 0:
                    break
                self.need = size + 2
            if len(self.raw) < self.need:
                break
            self.text += self.raw[: self.need - 2]
            self.raw = self.raw[self.need :]
            self.need = 0
        *messages, self.text = self.text.split(b"\n\n")
        for message in messages:
            if not self.opened:
                self.opened = True
                self.ready()
            for line in message.split(b"\n"):
                if line.startswith(b"data: "):
                    self._event(line[6:], now)

    def _event(self, data: bytes, now: float) -> None:
        import msgspec

        event = msgspec.json.decode(data)
        stamp = self.stamps.get(event["time"])
        if stamp is None:
            moment = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%f%z")
            stamp = self.stamps[event["time"]] = moment.timestamp()
        item = event["data"]["id"]
        self.items.append(item)
        self.latency.append(now - stamp)
        self.arrived.append((item, now))


def sse_client_process(port: int, count: int, pipe: Any) -> None:
    """One client process: ``count`` subscriptions; reports when all are open, then on stop."""
    raise_open_files()
    import uvloop

    uvloop.run(_sse_clients(port, count, pipe))


async def _sse_clients(port: int, count: int, pipe: Any) -> None:
    loop = asyncio.get_running_loop()
    stamps: dict[str, float] = {}
    opened = asyncio.Event()
    clients: list[SseClient] = []
    failed = 0

    def ready() -> None:
        if sum(client.opened for client in clients) >= count - failed:
            opened.set()

    async def connect() -> None:
        nonlocal failed
        client = SseClient(port, stamps, ready)
        clients.append(client)
        try:
            await loop.create_connection(lambda: client, "127.0.0.1", port)
        except OSError:
            failed += 1
            clients.remove(client)

    for first in range(0, count, 50):
        await asyncio.gather(*(connect() for _ in range(first, min(first + 50, count))))
    with suppress(TimeoutError):
        await asyncio.wait_for(opened.wait(), 60)
    not_ok = sum(1 for client in clients if client.status != 200)
    pipe.send(("ready", len(clients) - not_ok, failed + not_ok))
    cpu = time.process_time()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    pipe.send(
        (
            "results",
            time.process_time() - cpu,
            [(client.items, client.latency, client.arrived) for client in clients],
        )
    )


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass
class Fanout:
    subscribers: int = 0
    refused: int = 0
    deliveries: int = 0
    lost: int = 0
    duplicated: int = 0
    from_event: list[float] = field(default_factory=list)  # ms
    from_post: list[float] = field(default_factory=list)  # ms
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    seconds: float = 0.0
    post_p99_ms: float = 0.0


def measure_fanout(
    databases: Databases, engine: str, size: Sizes, server_workers: int = 1
) -> Fanout:
    settings = databases.settings(engine)
    db = open_database(settings, items_app)
    try:
        token, _ = TokenStore(db).create("bench")
    finally:
        db.close()
    args = ("--max-client-connections", str(size.subscribers * 2), "--workers", str(server_workers))
    if settings.database_url:
        args += ("--database-url", settings.database_url)
    context = multiprocessing.get_context("spawn")
    result = Fanout()
    with ServerProcess(settings.data_dir, extra_args=args, cwd=ROOT) as server:
        pid = server.process.pid if server.process else 0
        pipes, processes = [], []
        share = [size.subscribers // SSE_CLIENTS] * SSE_CLIENTS
        share[0] += size.subscribers - sum(share)
        for count in share:
            parent, child = context.Pipe()
            process = context.Process(target=sse_client_process, args=(server.port, count, child))
            process.start()
            pipes.append(parent)
            processes.append(process)
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("the SSE clients did not connect within 120 s")
            _, ok, refused = pipe.recv()
            result.subscribers += ok
            result.refused += refused
        if result.subscribers < size.subscribers:
            raise RuntimeError(
                f"only {result.subscribers} of {size.subscribers} subscriptions opened; "
                f"see {server.log_path}"
            )
        posted: dict[int, float] = {}
        post_ms: list[float] = []
        cpu = tree_cpu(pid)
        started = time.time()
        with httpx.Client(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            for n in range(size.changes):
                pause = started + n / size.rate - time.time()
                if pause > 0:
                    time.sleep(pause)
                sent = time.time()
                response = client.post("/api/items", json={"name": f"change {n}"})
                response.raise_for_status()
                posted[response.json()["id"]] = time.time()
                post_ms.append((posted[response.json()["id"]] - sent) * 1000)
        time.sleep(2.0)  # the last deliveries
        result.seconds = time.time() - started
        result.server_cpu = tree_cpu(pid) - cpu
        for pipe in pipes:
            pipe.send("stop")
        expected = set(posted)
        for pipe in pipes:
            _, client_cpu, streams = pipe.recv()
            result.client_cpu += client_cpu
            for items, latency, arrived in streams:
                unique = set(items)
                result.deliveries += len(items)
                result.duplicated += len(items) - len(unique)
                result.lost += len(expected - unique)
                result.from_event += [seconds * 1000 for seconds in latency]
                result.from_post += [(moment - posted[item]) * 1000 for item, moment in arrived]
        for process in processes:
            process.join(10)
        result.post_p99_ms = percentile(post_ms, 0.99)
    return result


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# The run and the table.


@dataclass
class Results:
    enqueue: dict[str, dict[str, float]] = field(default_factory=dict)
    drain: dict[str, dict[str, Drain]] = field(default_factory=dict)
    fanout: dict[str, Fanout] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)
    sse_workers: int = 1


def run_all(work: Path, args: argparse.Namespace, size: Sizes, results: Results) -> None:
    with _postgres(args) as postgres:
        databases = Databases(work, postgres)
        engines = ENGINES if postgres else ENGINES[:1]
        wanted = {args.only} if args.only else {"enqueue", "drain", "sse"}
        for engine in engines:
            if "enqueue" in wanted:
                print(f"[{engine}] enqueue ...", file=sys.stderr, flush=True)
                results.enqueue[engine] = measure_enqueue(databases, engine, size)
            results.drain[engine] = {}
        if args.reference and "enqueue" in wanted:
            print("[reference] huey ...", file=sys.stderr, flush=True)
            results.reference = run_reference(size)
        for workers in (1, 4) if "drain" in wanted else ():
            for engine in engines:
                print(f"[{engine}] drain x{workers} ...", file=sys.stderr, flush=True)
                results.drain[engine][f"runner {workers}"] = measure_drain(
                    databases, engine, size.drain, workers
                )
        if not args.no_serve and "drain" in wanted:
            for workers in (1, 4):
                for engine in engines:
                    print(f"[{engine}] serve drain x{workers} ...", file=sys.stderr, flush=True)
                    results.drain[engine][f"serve {workers}"] = measure_serve_drain(
                        databases, engine, size.drain, workers
                    )
        for engine in engines if "sse" in wanted else ():
            print(f"[{engine}] SSE fan-out ...", file=sys.stderr, flush=True)
            results.fanout[engine] = measure_fanout(databases, engine, size, args.sse_workers)


@contextmanager
def _postgres(args: argparse.Namespace) -> Iterator[PostgresServer | None]:
    if args.sqlite_only:
        yield None
        return
    with running_postgres() as server:
        yield server


def run_reference(size: Sizes) -> dict[str, float]:
    """huey's SQLite storage, side by side, in its own venv (bench/jobs_reference.py)."""
    python = Path("/tmp/onebin-bench-ref/bin/python")
    script = ROOT / "bench" / "jobs_reference.py"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(python.parent.parent)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", f"huey=={HUEY_VERSION}"], check=True
            )
        out = subprocess.run(
            [str(python), str(script), str(size.single)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"huey reference not run: {exc}", file=sys.stderr)
        return {}
    return {key: float(value) for key, value in (line.split() for line in out.splitlines())}


def ratio(value: float, anchor: tuple[float, float]) -> str:
    low, high = anchor
    if low == high:
        return f"{value / low:.2f}x"
    return f"{value / high:.2f}-{value / low:.2f}x"


def print_table(results: Results, size: Sizes) -> None:
    engines = list(results.drain)
    width = 44
    head = f"{'':<{width}}" + "".join(f"{e:>12}" for e in engines)
    if results.enqueue:
        print_enqueue(results, size, engines, head, width)
    if results.drain[engines[0]]:
        print_drain(results, size, engines, head, width)
    if results.fanout:
        print_fanout(results, size, engines, head, width)


def print_enqueue(results: Results, size: Sizes, engines: list[str], head: str, width: int) -> None:
    print("\n1. Enqueue, jobs/s (default settings: SQLite synchronous=FULL, PostgreSQL fsync on)")
    print(head + "   anchor (ratio: ours / anchor)")
    rows = (
        (
            f"1 per write, one at a time ({size.single:,})",
            "single",
            PGQUEUER_SINGLE,
            "PgQueuer one by one 1,400-3,700",
        ),
        (
            f"1 per write, {CONCURRENT_WRITERS} writers ({size.concurrent:,})",
            "concurrent",
            HUEY_SQLITE,
            "huey SQLite 8,600-25,000",
        ),
        (
            f"{BATCH} per write ({size.batched:,})",
            "batched",
            PGQUEUER_BATCH,
            "PgQueuer batched 28,000-33,000",
        ),
    )
    for label, key, anchor, name in rows:
        line = f"{label:<{width}}" + "".join(f"{results.enqueue[e][key]:>12,.0f}" for e in engines)
        ratios = ", ".join(f"{e} {ratio(results.enqueue[e][key], anchor)}" for e in engines)
        print(f"{line}   {name}: {ratios}")
    if results.reference:
        ref = results.reference
        ours = results.enqueue["sqlite"]["single"]
        print(
            f"  reference run now, same disk: huey {HUEY_VERSION} SqliteHuey, one task() call "
            f"per job: {ref['single']:,.0f}/s (its defaults), {ref['single_fsync']:,.0f}/s "
            f"(fsync=True);\n  onebin SQLite one at a time / huey: {ours / ref['single']:.2f}x "
            f"(defaults), {ours / ref['single_fsync']:.2f}x (fsync=True); PgQueuer not run here"
        )
    else:
        print("  (anchors are fixed figures from notes/performance-anchors.md, not run here)")


def print_drain(results: Results, size: Sizes, engines: list[str], head: str, width: int) -> None:
    print(f"\n2. Drain, jobs/s ({size.drain:,} jobs queued, handler does nothing)")
    print(head + f"   target >= {DRAIN_TARGET:,.0f}/s; PgQueuer 1 worker ~3,500")
    labels = {
        "runner 1": "JobRunner in-process, 1 job worker",
        "runner 4": "JobRunner in-process, 4 job workers",
        "serve 1": "onebin serve --job-workers 1",
        "serve 4": "onebin serve --job-workers 4",
    }
    notes = []
    for key, label in labels.items():
        if key not in results.drain[engines[0]]:
            continue
        line = f"{label:<{width}}" + "".join(
            f"{results.drain[e][key].rate:>12,.0f}" for e in engines
        )
        ratios = ", ".join(f"{e} {results.drain[e][key].rate / DRAIN_TARGET:.2f}x" for e in engines)
        print(f"{line}   vs 3,500: {ratios}")
        notes += [
            f"  {e} {label}: {results.drain[e][key].note}"
            for e in engines
            if results.drain[e][key].note
        ]
    for note in notes:
        print(note)


def print_fanout(results: Results, size: Sizes, engines: list[str], head: str, width: int) -> None:
    print(
        f"\n3. SSE fan-out: onebin serve --workers {results.sse_workers}, {size.changes} "
        f"POST /api/items at {size.rate:g}/s, delivery latency in ms"
    )
    print(head + f"   target p99 < {SSE_P99_TARGET_MS:.0f} ms")
    fan = results.fanout
    sse_rows: list[tuple[str, Callable[[Fanout], str]]] = [
        ("subscribers connected (refused)", lambda f: f"{f.subscribers} ({f.refused})"),
        ("deliveries", lambda f: f"{f.deliveries:,}"),
        ("lost / duplicated", lambda f: f"{f.lost} / {f.duplicated}"),
        ("event time -> receipt p50", lambda f: f"{percentile(f.from_event, 0.5):.1f}"),
        ("event time -> receipt p99", lambda f: f"{percentile(f.from_event, 0.99):.1f}"),
        ("event time -> receipt max", lambda f: f"{max(f.from_event, default=0):.1f}"),
        ("POST 201 -> receipt p50", lambda f: f"{percentile(f.from_post, 0.5):.1f}"),
        ("POST 201 -> receipt p99", lambda f: f"{percentile(f.from_post, 0.99):.1f}"),
        ("POST 201 -> receipt max", lambda f: f"{max(f.from_post, default=0):.1f}"),
        ("POST round trip p99", lambda f: f"{f.post_p99_ms:.1f}"),
        ("server CPU s / wall s", lambda f: f"{f.server_cpu:.1f}/{f.seconds:.0f}"),
        ("client CPU s (2 processes)", lambda f: f"{f.client_cpu:.1f}"),
    ]
    for label, show in sse_rows:
        print(f"{label:<{width}}" + "".join(f"{show(fan[e]):>12}" for e in engines))
    for engine in engines:
        p99 = percentile(fan[engine].from_event, 0.99)
        print(f"  {engine}: p99 / target {p99 / SSE_P99_TARGET_MS:.2f}x", end="")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a minute or so")
    parser.add_argument("--jobs", type=int, help="jobs per drain (default 20,000; 3,000 quick)")
    parser.add_argument("--subscribers", type=int, help="SSE clients (default 1,000; 200 quick)")
    parser.add_argument("--changes", type=int, default=200, help="POSTs during the SSE run")
    parser.add_argument("--rate", type=float, default=20.0, help="POSTs per second")
    parser.add_argument(
        "--sse-workers", type=int, default=1, help="onebin serve --workers for the SSE run"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-serve", action="store_true", help="skip the onebin serve drains")
    parser.add_argument(
        "--only", choices=("enqueue", "drain", "sse"), help="run one section (for profiling)"
    )
    parser.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="skip running huey's SQLite enqueue side by side",
    )
    args = parser.parse_args()
    size = sizes(args)
    raise_open_files()
    load_start = os.getloadavg()
    started = time.monotonic()
    results = Results(sse_workers=args.sse_workers)
    with tempfile.TemporaryDirectory(prefix="onebin-bench-jobs-") as tmp:
        run_all(Path(tmp), args, size, results)
    load_end = os.getloadavg()
    print(
        f"\nbench/jobs.py{' --quick' if args.quick else ''}: {os.cpu_count()} cores, "
        f"load average at start {' '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {' '.join(f'{x:.2f}' for x in load_end)}, {time.monotonic() - started:.0f} s"
    )
    print_table(results, size)
    print(
        "\nAll on one 2-core machine: the server, PostgreSQL, the load generator and the SSE "
        "clients share both cores;\nlatency is measured on the one host clock "
        "(an event's time is stamped in its write, before the commit's fsync)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
