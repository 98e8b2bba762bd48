"""Three ``onebin serve --database-url`` replicas behind a real HAProxy, end to end.

Each replica has its own data directory and port; PostgreSQL (tests/postgres.py)
is the one thing they share. HAProxy (tests/haproxy.py) balances round-robin and
takes a replica out when its ``/readyz`` fails. What is checked: a replica
SIGKILLed under writes loses no acknowledged write and HAProxy stops sending to
it; If-Match races across replicas have exactly one winner; PostgreSQL stopped
under load gives JSON 503s and not-ready replicas that recover without a restart;
a write through one replica is read through the others.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.haproxy import HAProxy
from tests.postgres import PostgresServer
from tests.support import ONEBIN, ServerProcess, free_port, wait_until
from tests.tls.handshake import served_serial
from tests.tls.https_server import HttpsServer, acme_args
from tests.tls.pebble import Pebble
from tests.tls.test_server import wait_for_certificate

REPLICAS = 3


@dataclass
class Cluster:
    """The replicas, the balancer in front of them, the database and a write token."""

    database_url: str
    replicas: list[ServerProcess]
    balancer: HAProxy
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def stored(self) -> dict[int, str]:
        """Every item in PostgreSQL, read directly (not through onebin)."""
        with psycopg.connect(self.database_url) as conn:
            return dict(conn.execute("SELECT id, name FROM items").fetchall())


def start_replicas(database_url: str, tmp_path: Path) -> list[ServerProcess]:
    """Start all replicas at once (their migrations race for the advisory lock)."""
    replicas = [
        ServerProcess(
            tmp_path / f"replica-{number}" / "data",
            extra_args=("--database-url", database_url, "--trusted-proxies", "127.0.0.1"),
            start_timeout=30,
        )
        for number in range(REPLICAS)
    ]
    with ThreadPoolExecutor(REPLICAS) as pool:
        list(pool.map(ServerProcess.start, replicas))
    return replicas


def create_token(database_url: str) -> str:
    result = subprocess.run(
        [*ONEBIN, "token", "create", "--name", "replicas", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


@contextmanager
def cluster_on(database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    replicas = start_replicas(database_url, tmp_path)
    balancer = HAProxy([replica.port for replica in replicas], tmp_path / "haproxy")
    try:
        balancer.start()
        balancer.wait_for({f"r{n}": "UP" for n in range(REPLICAS)})
        yield Cluster(database_url, replicas, balancer, create_token(database_url))
    finally:
        balancer.stop()
        for replica in replicas:
            replica.stop()


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    with cluster_on(postgres_url, tmp_path) as running:
        yield running


@dataclass
class Writes:
    """What writers through the balancer saw: acknowledged items and every other answer."""

    acknowledged: dict[int, str] = field(default_factory=dict)
    answers: dict[int | str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def saw(self, answer: int | str) -> None:
        with self.lock:
            self.answers[answer] = self.answers.get(answer, 0) + 1

    def failures(self) -> dict[int | str, int]:
        with self.lock:
            return {answer: n for answer, n in self.answers.items() if answer != 201}


@contextmanager
def writing(url: str, auth: dict[str, str], *, clients: int = 6) -> Iterator[Writes]:
    """Writers posting items through ``url`` until the block ends; they carry on
    after errors (a balancer answers 502 for a request its replica died under)."""
    writes, stop = Writes(), threading.Event()

    def writer(number: int) -> None:
        with httpx.Client(base_url=url, headers=auth, timeout=10) as client:
            serial = 0
            while not stop.is_set():
                name = f"w{number}-{serial}"
                serial += 1
                try:
                    response = client.post("/api/items", json={"name": name})
                except httpx.TransportError as error:
                    writes.saw(type(error).__name__)
                    continue
                writes.saw(response.status_code)
                if response.status_code == 201:
                    with writes.lock:
                        writes.acknowledged[response.json()["id"]] = name

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield writes
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def grows(writes: Writes, by: int) -> Callable[[], bool]:
    """A condition: ``by`` more writes acknowledged than now."""
    target = writes.count() + by
    return lambda: writes.count() >= target


def test_replicas_sigkilled_under_writes_loses_no_acknowledged_write(cluster: Cluster):
    victim = cluster.replicas[1]
    with writing(cluster.balancer.url, cluster.auth) as writes:
        wait_until(grows(writes, 100), timeout=30, what="writes through haproxy")
        assert min(cluster.balancer.requests().values()) > 0  # every replica took writes
        victim.kill()
        cluster.balancer.wait_for({"r1": "DOWN", "r0": "UP", "r2": "UP"})
        failed_before = sum(writes.failures().values())
        wait_until(grows(writes, 200), timeout=30, what="writes after the kill")
        failed_after = sum(writes.failures().values())
    assert failed_after == failed_before  # once it is DOWN, nothing is sent to it
    # Only the few requests that were on the dead replica at the kill failed: a 502,
    # or the connection closed without an answer (HAProxy does that when a reused
    # connection to a replica dies, as the replica itself would have).
    assert set(writes.failures()) <= {502, "RemoteProtocolError"}, writes.answers
    assert failed_after <= 2 * 6, writes.answers
    sent_to_dead = cluster.balancer.requests()["r1"]
    with httpx.Client(base_url=cluster.balancer.url, headers=cluster.auth, timeout=10) as client:
        for n in range(30):
            response = client.post("/api/items", json={"name": f"after-{n}"})
            assert response.status_code == 201, response.text
            writes.acknowledged[response.json()["id"]] = f"after-{n}"
    assert cluster.balancer.requests()["r1"] == sent_to_dead
    stored = cluster.stored()
    lost = {i: name for i, name in writes.acknowledged.items() if stored.get(i) != name}
    assert not lost, f"{len(lost)} acknowledged writes missing: {list(lost.items())[:5]}"
    assert cluster.replicas[0].process.poll() is None
    assert cluster.replicas[2].process.poll() is None


def test_replicas_if_match_race_has_exactly_one_winner(cluster: Cluster):
    racers = 12
    with httpx.Client(base_url=cluster.balancer.url, headers=cluster.auth, timeout=10) as client:
        created = client.post("/api/items", json={"name": "contested"})
        assert created.status_code == 201
        item_url = created.headers["location"]
        etag = created.headers["etag"]
    before = cluster.balancer.requests()
    barrier = threading.Barrier(racers)

    def race(number: int) -> tuple[int, str]:
        with httpx.Client(base_url=cluster.balancer.url, headers=cluster.auth, timeout=10) as c:
            c.get("/healthz")  # connected before the barrier, so all PATCHes go at once
            barrier.wait(timeout=10)
            response = c.patch(
                item_url, json={"name": f"racer {number}"}, headers={"if-match": etag}
            )
            return response.status_code, f"racer {number}"

    with ThreadPoolExecutor(racers) as pool:
        results = list(pool.map(race, range(racers)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * (racers - 1), statuses
    after = cluster.balancer.requests()
    served = [name for name in after if after[name] - before[name] > 0]
    assert len(served) == REPLICAS  # the racers really were on different replicas
    winner = next(name for status, name in results if status == 200)
    final = httpx.get(f"{cluster.balancer.url}{item_url}").json()
    assert final["name"] == winner
    assert final["version"] == 2


def test_replicas_write_through_one_is_read_through_the_others(cluster: Cluster):
    first, *others = cluster.replicas
    created = httpx.post(
        f"{first.url}/api/items",
        json={"name": "shared", "tags": ["everywhere"]},
        headers=cluster.auth,
    )
    assert created.status_code == 201  # the token made once is known to every replica
    location, etag = created.headers["location"], created.headers["etag"]
    for replica in others:
        read = httpx.get(f"{replica.url}{location}")
        assert read.status_code == 200
        assert read.json()["name"] == "shared"
        assert read.headers["etag"] == etag
        listed = httpx.get(f"{replica.url}/api/items", params={"q": "shared"}).json()
        assert [item["name"] for item in listed["items"]] == ["shared"]
    changed = httpx.patch(
        f"{others[0].url}{location}",
        json={"name": "changed"},
        headers={**cluster.auth, "if-match": etag},
    )
    assert changed.status_code == 200
    stale = httpx.patch(
        f"{others[1].url}{location}",
        json={"name": "stale"},
        headers={**cluster.auth, "if-match": etag},
    )
    assert stale.status_code == 412  # the version moved on another replica
    assert httpx.get(f"{first.url}{location}").json()["name"] == "changed"


def test_replicas_survive_postgresql_stopped_under_load(
    private_postgres: PostgresServer, tmp_path: Path
):
    url = private_postgres.create_database()
    with cluster_on(url, tmp_path) as cluster:
        balancer = cluster.balancer
        with writing(balancer.url, cluster.auth) as writes:
            wait_until(grows(writes, 100), timeout=30, what="writes before the outage")
            private_postgres.stop("immediate")  # a crash: no checkpoint

            for replica in cluster.replicas:
                answer = httpx.get(f"{replica.url}/api/items/1", timeout=5)
                assert answer.status_code == 503
                assert answer.json()["error"]["code"] == "database_unavailable"
                assert answer.headers["retry-after"]
            for replica in cluster.replicas:
                wait_until(
                    lambda r=replica: httpx.get(f"{r.url}/readyz").status_code == 503,
                    what=f"replica :{replica.port} not ready",
                )
                assert httpx.get(f"{replica.url}/healthz").status_code == 200
            balancer.wait_for({f"r{n}": "DOWN" for n in range(REPLICAS)})
            refused = httpx.post(
                f"{balancer.url}/api/items", json={"name": "x"}, headers=cluster.auth
            )
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "no_replica_ready"

            private_postgres.start()
            balancer.wait_for({f"r{n}": "UP" for n in range(REPLICAS)}, timeout=30)
            wait_until(grows(writes, 100), timeout=30, what="writes after PostgreSQL is back")

        for replica in cluster.replicas:
            assert replica.process is not None
            assert replica.process.poll() is None  # up all along
        # The same processes, never restarted: each one writes again.
        for replica in cluster.replicas:
            answer = httpx.post(
                f"{replica.url}/api/items", json={"name": "after"}, headers=cluster.auth
            )
            assert answer.status_code == 201, answer.text
        failures = writes.failures()
        assert set(failures) <= {503}, writes.answers  # onebin's 503s and the balancer's
        assert failures, "the outage was not seen by any writer"
        stored = cluster.stored()
        lost = {i: name for i, name in writes.acknowledged.items() if stored.get(i) != name}
        assert not lost, f"{len(lost)} acknowledged writes missing: {list(lost.items())[:5]}"


@pytest.mark.pebble
def test_replicas_one_certificate_order_through_haproxy_served_by_all(
    postgres_url: str, tmp_path: Path
):
    # Each replica serves HTTPS itself (--domain); their HTTP ports, behind HAProxy,
    # only answer the CA's challenges. Pebble validates through HAProxy, so the CA's
    # request reaches whichever replica round-robin picks, not the one that ordered.
    http_ports = [free_port() for _ in range(REPLICAS)]
    balancer = HAProxy(http_ports, tmp_path / "haproxy", http_check=False)
    pebble = Pebble(tmp_path / "pebble", http_port=balancer.port)
    replicas = [
        HttpsServer(
            tmp_path / f"replica-{n}" / "data",
            http_port=port,
            tls_args=[*acme_args(pebble.directory, pebble.ca_file), "--database-url", postgres_url],
        )
        for n, port in enumerate(http_ports)
    ]
    try:
        balancer.start()
        pebble.start()
        root = pebble.root_pem()
        with ThreadPoolExecutor(REPLICAS) as pool:
            list(pool.map(HttpsServer.start, replicas))
        serial = wait_for_certificate(replicas[0], root, timeout=60)
        for replica in replicas:
            wait_until(
                lambda r=replica: served_serial(r.https_port, root) == serial,
                timeout=30,
                what=f"the certificate on :{replica.https_port}",
            )
        logs = [replica.log() for replica in replicas]
        assert sum(log.count("obtained") for log in logs) == 1, logs  # one order
        assert sum(balancer.requests().values()) > 0  # the CA's validation came through
        for replica in replicas:
            assert not (replica.data_dir / "tls").exists()  # in PostgreSQL alone
    finally:
        for replica in replicas:
            replica.stop()
        pebble.stop()
        balancer.stop()
