"""A real PostgreSQL for the tests: Debian's server binaries, run by the suite itself.

One cluster per test session (``initdb``, then ``pg_ctl start`` on a free port), and
a fresh database per test (``CREATE DATABASE ... TEMPLATE template0``), so tests
share the server's start-up cost and nothing else. Fault tests that stop the server
get a cluster of their own (``private_postgres``): a failed restart there cannot
take the rest of the session down with it.

PostgreSQL refuses to run as root, and the suite runs as root (so does CI): the
server runs as the ``postgres`` system user, in a directory from ``mkdtemp`` that
user can reach (pytest's own temp folders are 0700 root's). ``fsync`` stays on, so
a test that kills the server proves durability for real.

Nothing is skipped: without the binaries the tests that need them fail and say how
to get them (``make test`` installs Debian's ``postgresql`` when it is missing).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

SUPERUSER = "onebin"
_databases = itertools.count(1)


def find_binaries() -> Path:
    """The newest installed server's bin directory; fails the test with the way out."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/pg_ctl): run "
            "'make test', which installs Debian's postgresql package, or "
            "'apt-get install postgresql'",
            pytrace=False,
        )
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One cluster in its own directory, on its own port; ``stop``/``start`` for faults."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="onebin-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.port = free_port()
        self.running = False
        self._as_postgres = os.geteuid() == 0
        # Who the server runs as: a directory it is to write in must be theirs.
        self.owner = (os.geteuid(), os.getegid())
        if self._as_postgres:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(
                    "no 'postgres' user to run PostgreSQL as (the server refuses root): "
                    "install Debian's postgresql package ('make test' does)",
                    pytrace=False,
                )
            self.owner = (owner.pw_uid, owner.pw_gid)
            os.chown(self.root, *self.owner)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "--no-sync")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stderr}{result.stdout}\n{log[-2000:]}")
        return result

    def start(self) -> None:
        """Start and wait until it accepts connections; fsync stays on."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300 -c fsync=on"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session cleanly; ``immediate`` is a crash (recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{os.getpid()}_{next(_databases)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def destroy(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A cluster of its own, started, and removed (data and all) afterwards."""
    server = PostgresServer(find_binaries())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL, started on first use and stopped at the end."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    if not postgres_server.running:  # a test stopped it and failed before restarting
        postgres_server.start()
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A cluster for this test alone, for tests that stop, kill or fill it."""
    with running_postgres() as server:
        yield server
