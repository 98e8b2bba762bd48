"""End to end: two ``onebin serve --domain --database-url`` replicas, a real Pebble, a real
PostgreSQL. Separate data directories and ports: all they share is the database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from onebin.store.limiter import MIGRATIONS as LIMITER_MIGRATIONS
from onebin.store.postgres import PostgresDatabase
from onebin.store.tokens import MIGRATIONS as TOKEN_MIGRATIONS
from onebin.tls.tables import MIGRATIONS as TLS_MIGRATIONS
from tests.support import free_port, wait_until
from tests.tls.handshake import served_serial
from tests.tls.https_server import HttpsServer, acme_args
from tests.tls.test_server import wait_for_certificate

pytestmark = pytest.mark.pebble

LEASE_SECONDS = 3.0
# onebin with a short lease and a known owner id, so the test can say who owns first.
REPLICA = """
import runpy, sys
import onebin.tls.database as database
owner = sys.argv.pop(1)
database.LEASE_SECONDS = float(sys.argv.pop(1))
database.owner_id = lambda: owner
sys.argv[0] = "onebin"
runpy.run_module("onebin", run_name="__main__")
"""
OWNING = "this process now orders and renews the certificate for app.test"


def replica(tmp_path: Path, pebble, url: str, name: str, http_port: int) -> HttpsServer:
    args = [*acme_args(pebble.directory, pebble.ca_file), "--database-url", url]
    command = [sys.executable, "-c", REPLICA, name, str(LEASE_SECONDS)]
    return HttpsServer(tmp_path / name, http_port=http_port, tls_args=args, command=command)


def test_replicas_share_one_certificate_and_a_dead_owner_is_replaced(
    tmp_path, pebble, http_port, postgres_url
):
    root = pebble.root_pem()
    with PostgresDatabase(
        postgres_url, [*TOKEN_MIGRATIONS, *LIMITER_MIGRATIONS, *TLS_MIGRATIONS]
    ) as db:
        # Replica b owns from the start; Pebble validates on replica a's port, so the
        # CA's challenge is answered by the replica that did not order.
        db.write_sync(
            lambda c: c.execute(
                "INSERT INTO acme_leases (directory, owner, expires_at) "
                "VALUES (%s, 'replica-b', now() + interval '10 minutes')",
                (pebble.directory,),
            )
        )

        def rows(sql: str) -> list[dict]:
            return db.read_sync(lambda c: c.execute(sql).fetchall())

        a = replica(tmp_path, pebble, postgres_url, "replica-a", http_port)
        b = replica(tmp_path, pebble, postgres_url, "replica-b", free_port())
        with a, b:
            serial = wait_for_certificate(b, root)
            wait_until(lambda: served_serial(a.https_port, root) == serial, what="a's pick-up")
            assert b.log().count("obtained") == 1
            assert "obtained" not in a.log()
            assert OWNING not in a.log()
            assert rows("SELECT * FROM acme_challenges") == []  # answered, then removed
            # Nothing in a's data directory: the certificate is in the database alone.
            assert not (a.data_dir / "tls").exists()
            # `tls status` reads the database too, from any replica's host.
            assert f"serial:       {serial}" in a.tls_status()

            b.process.kill()  # SIGKILL: b's lease is never given back
            b.process.wait(10)
            wait_until(lambda: OWNING in a.log(), timeout=LEASE_SECONDS + 10, what="takeover")
            # The new owner maintains: with the certificate gone, it orders one itself,
            # and keeps serving the old one until the new one is in.
            db.write_sync(
                lambda c: c.execute(
                    "UPDATE acme_certificates SET bundle = NULL, fingerprint = NULL"
                )
            )
            wait_until(
                lambda: served_serial(a.https_port, root) not in {None, serial},
                timeout=30,
                what="a's own certificate",
            )
            assert a.log().count("obtained") == 1
            assert rows("SELECT owner FROM acme_leases") == [{"owner": "replica-a"}]
            assert a.terminate() == 0
            # A clean stop gives the lease back at once.
            assert rows("SELECT owner FROM acme_leases") == []
