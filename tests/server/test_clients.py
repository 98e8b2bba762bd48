"""Who the client is: forwarded headers only from trusted proxies; limits per client."""

from __future__ import annotations

import httpx
import pytest

from onebin.server.clients import TrustedProxies, parse_ip
from tests.load import rss_kib
from tests.support import ServerProcess

BAD = {"authorization": "Bearer ob_guess", "content-type": "application/json"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:8443 ", "192.0.2.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("unknown", None),
        ("x" * 70_000, None),
        ("", None),
    ],
)
def test_parse_ip_accepts_addresses_only(text, expected):
    assert parse_ip(text) == expected


def test_forwarded_for_counts_only_from_a_trusted_peer():
    proxies = TrustedProxies(["10.0.0.0/8"])
    header = [b"203.0.113.9, 198.51.100.2"]
    assert proxies.client("192.0.2.7", header) == "192.0.2.7"  # not a proxy: ignored
    assert proxies.client("10.1.2.3", header) == "198.51.100.2"  # right-most untrusted hop
    assert proxies.client("10.1.2.3", [b"203.0.113.9, 10.9.9.9"]) == "203.0.113.9"
    assert proxies.client("10.1.2.3", [b"203.0.113.9, garbage"]) == "10.1.2.3"
    assert proxies.client("10.1.2.3", []) == "10.1.2.3"
    assert TrustedProxies().client("127.0.0.1", header) == "127.0.0.1"  # default: none


def test_forwarded_proto_counts_only_from_a_trusted_peer():
    proxies = TrustedProxies(["127.0.0.1"])
    assert proxies.scheme("127.0.0.1", [b"https"]) == "https"
    assert proxies.scheme("192.0.2.7", [b"https"]) is None
    assert proxies.scheme("127.0.0.1", [b"gopher"]) is None


def bad_writes(url: str, count: int, forwarded_for: str | None = None) -> list[int]:
    headers = dict(BAD)
    if forwarded_for is not None:
        headers["x-forwarded-for"] = forwarded_for
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            client.post("/api/items", json={"name": "x"}, headers=headers).status_code
            for _ in range(count)
        ]


def test_forwarded_for_from_loopback_is_not_believed_by_default(tmp_path):
    """uvicorn trusts 127.0.0.1 by default; a client could pick the address it was
    limited as, and escape the limit, with one header."""
    with ServerProcess(tmp_path / "data") as server:
        statuses = [
            bad_writes(server.url, 1, forwarded_for=f"198.51.100.{n}")[0] for n in range(12)
        ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


def test_a_trusted_proxy_passes_the_client_address_and_huge_values_cost_nothing(tmp_path):
    args = ("--trusted-proxies", "127.0.0.1/32")
    with ServerProcess(tmp_path / "data", extra_args=args) as server:
        # Different clients behind the proxy are limited separately...
        assert bad_writes(server.url, 11, forwarded_for="198.51.100.1")[-1] == 429
        assert bad_writes(server.url, 1, forwarded_for="198.51.100.2") == [401]
        # ...and 60 KB values (10,000 of them once grew memory by 585 MiB) are not keys.
        before = rss_kib(server.process.pid)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for n in range(2000):
                value = f"{n}" + "9" * 60_000
                client.post("/api/items", json={}, headers={**BAD, "x-forwarded-for": value})
        grown = rss_kib(server.process.pid) - before
    assert grown < 32 * 1024, f"memory grew by {grown} KiB"


def test_failed_attempts_are_counted_across_workers(tmp_path):
    """Each worker used to count alone, so N workers allowed N times the attempts."""
    with ServerProcess(tmp_path / "data", extra_args=("--workers", "2")) as server:
        statuses = []
        for _ in range(14):  # a new connection each: the kernel spreads them over workers
            statuses += bad_writes(server.url, 1)
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
