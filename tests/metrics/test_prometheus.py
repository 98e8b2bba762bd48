"""What a real ``onebin serve --metrics`` counts: requests, refusals, connections, the
database, and the totals of every worker."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.metrics.scrape import (
    METRICS,
    Scrape,
    metrics_directories,
    scrape,
)
from tests.server.processes import serving_workers, wait_for_workers
from tests.support import ServerProcess, free_port, raw_exchange, split_response, wait_until
from tests.tls.handshake import served_serial
from tests.tls.https_server import HttpsServer, acme_args
from tests.tls.pebble import Pebble

ITEM = "/api/items/{item_id}"


def test_requests_are_counted_by_route_template_method_and_status(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=METRICS) as server:
        auth = {"authorization": f"Bearer {server.token()}"}
        before = scrape(server.url)
        ids = [
            httpx.post(f"{server.url}/api/items", json={"name": f"n{i}"}, headers=auth).json()["id"]
            for i in range(3)
        ]
        for item_id in ids + ids[:2]:
            assert httpx.get(f"{server.url}/api/items/{item_id}").status_code == 200
        for _ in range(2):
            assert httpx.get(f"{server.url}/api/items/999999").status_code == 404
        assert httpx.request("PROPFIND", f"{server.url}/api/items").status_code == 405
        assert httpx.delete(f"{server.url}/_onebin/api/tokens/a/b").status_code == 401
        assert httpx.get(f"{server.url}/_onebin/").status_code == 200
        after = scrape(server.url)

    def added(name: str, **labels: str) -> float:
        return after.count(name, **labels) - before.count(name, **labels)

    requests = "onebin_http_requests_total"
    assert added(requests, route="/api/items", method="POST", status="201") == 3
    assert added(requests, route=ITEM, method="GET", status="200") == 5
    assert added(requests, route=ITEM, method="GET", status="404") == 2
    assert added(requests, route="/api/items", method="other", status="405") == 1
    assert after.count(requests, route="/healthz", method="GET", status="200") >= 1
    assert added(requests, route="/_onebin/api/tokens/{name}", status="401") == 1
    assert added(requests, route="/_onebin/{file}", method="GET", status="200") == 1
    assert before.count(requests, route="/metrics", method="GET", status="200") == 0
    assert after.count(requests, route="/metrics", method="GET", status="200") == 1
    # One series per template, never one per item.
    assert not any(f"/api/items/{item_id}" in after.text for item_id in ids)
    # Seconds from 1 ms up; cumulative, and the +Inf bucket holds every request.
    duration = "onebin_http_request_duration_seconds"
    buckets = after.buckets(duration, route=ITEM, method="GET")
    assert buckets["+Inf"] == 7 == after.count(f"{duration}_count", route=ITEM, method="GET")
    assert list(buckets.values()) == sorted(buckets.values())
    assert list(buckets) == [
        *("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5"),
        *("1.0", "2.5", "5.0", "10.0", "+Inf"),
    ]
    assert 0 < after.count(f"{duration}_sum", route=ITEM, method="GET") < 7 * 10
    # Each create is one write, each GET one lookup, timed as the caller waits.
    assert added("onebin_db_write_duration_seconds_count") >= 3
    assert added("onebin_db_query_duration_seconds_count", kind="lookup") >= 7
    assert after.buckets("onebin_db_write_duration_seconds")["+Inf"] >= 3


def test_refusals_are_counted_by_cause(tmp_path):
    options = (*METRICS, "--max-client-connections", "3", "--header-timeout", "1")
    with ServerProcess(tmp_path / "data", extra_args=options) as server:
        causes = scrape(server.url)
        for cause in ("max_connections", "max_client_connections", "rate_limit"):
            assert causes.value("onebin_connections_refused_total", cause=cause) == 0

        huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
        assert split_response(raw_exchange(server.port, huge))[0] == 431

        statuses = [
            httpx.post(
                f"{server.url}/api/items",
                json={"name": "x"},
                headers={"authorization": "Bearer no"},
            ).status_code
            for _ in range(12)
        ]
        assert statuses == [401] * 10 + [429] * 2

        slow = raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert split_response(slow)[0] == 408

        refused = scrape(server.url)
        assert refused.value("onebin_connections_refused_total", cause="headers_too_large") == 1
        assert refused.value("onebin_connections_refused_total", cause="rate_limit") == 2
        assert refused.value("onebin_connections_refused_total", cause="header_timeout") == 1

        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        try:
            over = raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert split_response(over)[0] == 503
        finally:
            for conn in idle:
                conn.close()
        capped = scrape(server.url)
        assert capped.value("onebin_connections_refused_total", cause="max_client_connections") == 1
        assert capped.value("onebin_connections_refused_total", cause="max_connections") == 0


def test_open_connections_are_a_gauge(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=METRICS) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
        try:
            wait_until(
                lambda: scrape(server.url).count("onebin_connections_open") >= 5,
                what="five open connections in the gauge",
            )
        finally:
            for conn in idle:
                conn.close()
        wait_until(
            lambda: scrape(server.url).count("onebin_connections_open") <= 1,
            what="the gauge back down once they closed",
        )


def per_worker(directory: Path, route: str) -> dict[str, float]:
    """Requests to ``route`` in each worker's own counter file, by file name."""
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        (family,) = [
            m for m in MultiProcessCollector.merge([str(path)]) if m.name == "onebin_http_requests"
        ] or [None]
        samples = family.samples if family is not None else []
        counts[path.name] = sum(s.value for s in samples if s.labels.get("route") == route)
    return counts


def worker_number(pid: int) -> str:
    """The worker number whose metrics files the process ``pid`` has mapped."""
    found = re.search(r"/counter_(\d+)\.db", Path(f"/proc/{pid}/maps").read_text())
    assert found is not None, f"process {pid} maps no counter file"
    return found.group(1)


def test_workers_add_up_and_a_replaced_worker_counts_on_in_the_same_files(tmp_path):
    options = (*METRICS, "--workers", "2")
    sent = 0

    def send(count: int) -> None:
        nonlocal sent
        for _ in range(count):  # a new connection each: the kernel hands them to either worker
            assert httpx.get(f"{server.url}/api/items/424242").status_code == 404
        sent += count

    def total() -> float:
        return scrape(server.url).count(
            "onebin_http_requests_total", route=ITEM, method="GET", status="404"
        )

    with ServerProcess(tmp_path / "data", extra_args=options) as server:
        wait_for_workers(server, 2)
        (directory,) = metrics_directories(tmp_path)

        def both_served() -> bool:
            send(10)
            return all(count > 0 for count in per_worker(directory, ITEM).values())

        wait_until(both_served, timeout=30, interval=0, what="requests answered by both workers")
        assert len(per_worker(directory, ITEM)) == 2
        # A request is counted just after its answer went out: within moments.
        wait_until(lambda: sum(per_worker(directory, ITEM).values()) == sent, what="every count")
        # Whichever worker answers the scrape, it reports both.
        assert [total() for _ in range(6)] == [sent] * 6

        files = {path.name for path in directory.iterdir()}
        for _ in range(2):
            victim = min(serving_workers(server))
            gauges = directory / f"gauge_livesum_{worker_number(victim)}.db"
            assert gauges.exists()
            os.kill(victim, signal.SIGKILL)
            # Its gauges (connections it held) go with it, before a replacement starts.
            wait_until(lambda gauges=gauges: not gauges.exists(), what="the dead worker's gauges")
            wait_until(
                lambda victim=victim: len(serving_workers(server) - {victim}) == 2,
                what="a replacement worker",
            )
            assert total() == sent  # neither lost nor counted twice
            send(5)
            wait_until(lambda: total() == sent, what="the new requests counted once")
            assert total() == sent
        # However often workers are replaced: one set of files per worker number.
        assert {path.name for path in directory.iterdir()} == files
        assert server.terminate() == 0
    assert metrics_directories(tmp_path) == []


@pytest.mark.pebble
def test_failed_certificate_orders_are_counted(tmp_path):
    http_port = free_port()
    # Pebble's certificates last 12 s, so a renewal is due 8 s after the first one.
    with Pebble(tmp_path / "pebble", http_port=http_port, validity_seconds=12) as pebble:
        root = pebble.root_pem()
        tls_args = [*acme_args(pebble.directory, pebble.ca_file), *METRICS]
        with HttpsServer(tmp_path / "data", http_port=http_port, tls_args=tls_args) as server:
            wait_until(
                lambda: served_serial(server.https_port, root) is not None,
                timeout=30,
                what=f"the first certificate\n{server.log()}",
            )
            # Ask for the name the certificate is for; the scrape is about counts, and
            # the certificate may expire while the test waits, so it is not verified.
            lenient = ssl.create_default_context()
            lenient.check_hostname = False
            lenient.verify_mode = ssl.CERT_NONE
            url = f"https://127.0.0.1:{server.https_port}"

            def scraped() -> Scrape:
                answer = httpx.get(f"{url}/metrics", verify=lenient, headers={"host": "app.test"})
                assert answer.status_code == 200
                return Scrape(answer.text)

            failures = "onebin_certificate_renewal_failures_total"
            first = scraped()
            assert first.count(failures) == 0
            expiry = first.value("onebin_certificate_expiry_timestamp_seconds", domain="app.test")
            assert expiry is not None
            assert time.time() < expiry < time.time() + 13
            pebble.stop()  # the renewal finds no CA
            wait_until(
                lambda: scraped().count(failures, domain="app.test") >= 1,
                timeout=30,
                what=f"a failed renewal counted\n{server.log()}",
            )


def test_writes_waiting_for_the_database_are_a_gauge(tmp_path):
    data = tmp_path / "data"
    with ServerProcess(data, extra_args=(*METRICS, "--write-timeout", "30")) as server:
        auth = {"authorization": f"Bearer {server.token()}"}
        # The lock every onebin process takes around its writes: held here, writes queue.
        lock = os.open(data / "onebin.sqlite3.write-lock", os.O_RDWR)
        fcntl.flock(lock, fcntl.LOCK_EX)
        with ThreadPoolExecutor(4) as pool:
            try:
                posts = [
                    pool.submit(
                        httpx.post,
                        f"{server.url}/api/items",
                        json={"name": f"w{i}"},
                        headers=auth,
                        timeout=60,
                    )
                    for i in range(4)
                ]
                wait_until(
                    lambda: scrape(server.url).count("onebin_db_write_queue_depth") >= 4,
                    what="four writes waiting in the gauge",
                )
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                os.close(lock)
            assert [post.result().status_code for post in posts] == [201] * 4
        wait_until(
            lambda: scrape(server.url).count("onebin_db_write_queue_depth") == 0,
            what="the gauge back to zero",
        )
