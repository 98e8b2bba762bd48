"""PostgreSQL's own behaviour: its pool, deadlines, faults and recovery, on a real server.

What both engines must do is in test_engines.py; this file holds what only a
server engine has: a server that stops, restarts or crashes under the process, a
pool that runs dry, several processes migrating one database at once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from onebin.errors import DatabaseUnavailable, StorageFull, StoreError, WriteTimeout
from onebin.store.migrations import Migration
from onebin.store.postgres import PostgresDatabase, connection_options
from tests.disks import fill, tmpfs

THINGS = Migration(
    "demo",
    1,
    "things",
    "unused on PostgreSQL",
    postgresql="CREATE TABLE things "
    "(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
)
SEED = Migration(
    "demo",
    2,
    "seed",
    "unused on PostgreSQL",
    postgresql="SELECT pg_sleep(0.5); INSERT INTO things (name) VALUES ('seed')",
)
SRC = Path(__file__).resolve().parents[2] / "src"


def insert(name: str):
    def run(conn) -> int:
        return conn.execute(
            "INSERT INTO things (name) VALUES (%s) RETURNING id", (name,)
        ).fetchone()["id"]

    return run


def count(conn) -> int:
    return conn.execute("SELECT count(*) AS n FROM things").fetchone()["n"]


def ping(conn) -> int:
    return conn.execute("SELECT 1 AS one").fetchone()["one"]


def test_every_connection_has_the_query_deadline_and_onebins_name(postgres_url):
    with PostgresDatabase(postgres_url, [THINGS], query_timeout=1.5, pool_size=3) as db:
        settings = [
            db.read_sync(
                lambda c: c.execute(
                    "SELECT current_setting('statement_timeout') AS t, "
                    "current_setting('application_name') AS a"
                ).fetchone()
            )
            for _ in range(3)
        ]
    assert {(s["t"], s["a"]) for s in settings} == {("1500ms", "onebin")}


def test_url_parameters_win_over_onebins_defaults(postgres_url):
    options = connection_options(
        postgres_url + "?connect_timeout=9&application_name=me", environ={}
    )
    assert "connect_timeout" not in options
    assert "application_name" not in options
    assert (
        connection_options(postgres_url, environ={"PGCONNECT_TIMEOUT": "3"}).get("connect_timeout")
        is None
    )
    assert connection_options(postgres_url, environ={})["connect_timeout"] == 5


def test_reads_run_in_read_only_transactions(postgres_url):
    with PostgresDatabase(postgres_url, [THINGS]) as db:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            asyncio.run(db.read(insert("sneaky")))
        assert db.read_sync(count) == 0


def test_a_write_that_cannot_get_a_connection_is_refused_and_never_runs(postgres_url):
    with PostgresDatabase(postgres_url, [THINGS], pool_size=1, write_timeout=0.3) as db:
        holding = threading.Event()

        def hold(conn) -> None:
            holding.set()
            conn.execute("SELECT pg_sleep(1)")

        holder = threading.Thread(target=db.write_sync, args=(hold,))
        holder.start()
        holding.wait(5)
        ran = []

        def late(conn) -> None:
            ran.append(True)

        with pytest.raises(WriteTimeout, match=r"could not start within 0\.3s"):
            asyncio.run(db.write(late))
        holder.join()
        assert ran == []
        assert db.write_sync(insert("after")) > 0  # the pool is whole again


def test_wrong_database_is_one_line_naming_the_url_without_its_password(postgres_server):
    url = postgres_server.url("missing").replace("onebin@", "onebin:hunter2@")
    with pytest.raises(StoreError) as caught:
        PostgresDatabase(url, [THINGS]).open()
    message = str(caught.value)
    assert "hunter2" not in message
    assert 'database "missing" does not exist' in message
    assert "onebin:***@" in message


def test_replicas_starting_at_once_migrate_exactly_once(postgres_url):
    """Separate processes, started together: all start, the seed migration runs once."""
    script = (
        "import sys; from onebin.store.migrations import Migration; "
        "from onebin.store.postgres import PostgresDatabase; "
        "from tests.store.test_postgres import THINGS, SEED; "
        "db = PostgresDatabase(sys.argv[1], [THINGS, SEED]); db.open(); db.close()"
    )
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC.parent}"}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres_url], env=env, stderr=subprocess.PIPE
        )
        for _ in range(5)
    ]
    errors = [replica.communicate(timeout=60)[1] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0] * 5, errors
    with PostgresDatabase(postgres_url, [THINGS, SEED]) as db:
        assert db.read_sync(
            lambda c: [r["name"] for r in c.execute("SELECT name FROM things")]
        ) == ["seed"]
        assert (
            db.read_sync(
                lambda c: c.execute("SELECT count(*) AS n FROM schema_migrations").fetchone()["n"]
            )
            == 2
        )


def test_stopped_server_is_database_unavailable_fast_and_the_same_object_recovers(
    private_postgres,
):
    url = private_postgres.create_database()
    with PostgresDatabase(url, [THINGS], query_timeout=2.0, write_timeout=5.0) as db:
        db.write_sync(insert("before"))
        private_postgres.stop()

        # The first request finds out (its connection is dead, a reconnect is refused);
        # the ones after it are answered from what the engine learned.
        for call, within in (
            (lambda: db.read_sync(count), 2.0),
            (lambda: asyncio.run(db.read(count)), 1.0),
            (lambda: asyncio.run(db.lookup(count)), 1.0),
            (lambda: asyncio.run(db.write(insert("lost"))), 1.0),
            (lambda: db.write_sync(insert("lost")), 1.0),
        ):
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable, match="PostgreSQL cannot be used right now"):
                call()
            assert time.monotonic() - started < within

        private_postgres.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                assert asyncio.run(db.write(insert("after"))) > 0
                break
            except DatabaseUnavailable:
                assert time.monotonic() < deadline, "not back 15 s after PostgreSQL was"
                time.sleep(0.2)
        assert db.read_sync(
            lambda c: [r["name"] for r in c.execute("SELECT name FROM things")]
        ) == [
            "before",
            "after",
        ]


def test_a_server_restart_between_requests_is_not_seen_by_clients(private_postgres):
    """Idle pooled connections die with the old server; the next requests get new ones."""
    url = private_postgres.create_database()
    with PostgresDatabase(url, [THINGS], pool_size=4) as db:
        for name in ("a", "b", "c", "d"):
            db.write_sync(insert(name))
        private_postgres.stop()
        private_postgres.start()
        assert [asyncio.run(db.read(count)) for _ in range(8)] == [4] * 8
        assert db.write_sync(insert("e")) > 0


def test_acknowledged_writes_survive_a_crash_under_load(private_postgres):
    """``pg_ctl stop -m immediate`` (no checkpoint, fsync on) while 4 threads write."""
    url = private_postgres.create_database()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    with PostgresDatabase(url, [THINGS], write_timeout=1.0) as db:

        def writer(number: int) -> None:
            serial = 0
            while not stop.is_set():
                name = f"{number}-{serial}"
                serial += 1
                try:
                    db.write_sync(insert(name))
                except DatabaseUnavailable:
                    continue
                with lock:
                    acknowledged.append(name)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        private_postgres.stop("immediate")
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        private_postgres.start()
    assert len(acknowledged) > 20
    with psycopg.connect(url) as conn:
        stored = {row[0] for row in conn.execute("SELECT name FROM things")}
    assert set(acknowledged) <= stored


def test_a_full_disk_is_storage_full_and_writes_resume_once_space_is_freed(
    private_postgres,
):
    """The table's tablespace on a small tmpfs: the kernel's ENOSPC, PostgreSQL's 53100."""
    url = private_postgres.create_database()
    place = Path(tempfile.mkdtemp(prefix="onebin-pg-disk-"))
    with tmpfs(place, "4m"):
        os.chown(place, *private_postgres.owner)
        private_postgres.admin(f"CREATE TABLESPACE small LOCATION '{place}'")
        blobs = Migration(
            "demo",
            1,
            "blobs",
            "unused",
            postgresql="CREATE TABLE blobs (data TEXT) TABLESPACE small",
        )
        with PostgresDatabase(url, [blobs]) as db:

            def add_blobs(conn) -> None:
                # Random hex in small rows: nothing for TOAST to compress away.
                conn.execute(
                    "INSERT INTO blobs (data) SELECT md5(random()::text) || md5(random()::text) "
                    "FROM generate_series(1, 2000)"
                )

            db.write_sync(add_blobs)
            filler = fill(place, leave=16 * 1024)
            with pytest.raises(StorageFull, match="disk holding the PostgreSQL database is full"):
                asyncio.run(db.write(add_blobs))
            filler.unlink()
            asyncio.run(db.write(add_blobs))
            assert (
                db.read_sync(lambda c: c.execute("SELECT count(*) AS n FROM blobs").fetchone()["n"])
                == 4000
            )
        private_postgres.admin("DROP DATABASE " + url.rpartition("/")[2])
        private_postgres.admin("DROP TABLESPACE small")


def test_a_url_libpq_cannot_parse_is_refused_without_echoing_its_password():
    with pytest.raises(StoreError) as caught:
        PostgresDatabase("postgresql://u:p%zzsecret@127.0.0.1/db", [THINGS]).open()
    assert "secret" not in str(caught.value)
    assert "invalid percent-encoded token" in str(caught.value)


def test_a_vanished_server_is_noticed_by_tcp_keepalives_unless_the_url_says_otherwise(
    postgres_url,
):
    options = connection_options(postgres_url, environ={})
    assert options["keepalives"] == 1
    assert (
        options["keepalives_idle"] + options["keepalives_interval"] * options["keepalives_count"]
        <= 30
    )
    assert options["tcp_user_timeout"] == 30_000
    assert "keepalives_idle" not in connection_options(
        postgres_url + "?keepalives_idle=99", environ={}
    )
