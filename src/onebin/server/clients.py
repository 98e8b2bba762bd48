"""Who the client is: the TCP peer, unless it is a proxy the operator said to trust.

``X-Forwarded-For`` is written by whoever sends the request, so believing it from
anyone (uvicorn believes it from 127.0.0.1 by default) lets a client pick the
address the rate limiter sees; and an unbounded header value as a limiter key let
10,000 requests grow memory by 600 MiB. Here the header counts only when the peer
is in ``--trusted-proxies``, only valid IP addresses are taken from it, and only
the last few hops are read: the client is the right-most address that is not
itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

MAX_HOPS = 16
MAX_HOP_CHARS = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> str | None:
    """The canonical form of an IP address, or None (brackets and a port are allowed)."""
    text = text.strip()
    if not text or len(text) > MAX_HOP_CHARS:
        return None
    if text.startswith("["):  # "[2001:db8::1]:443"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class TrustedProxies:
    """The networks whose forwarding headers are believed; none by default."""

    def __init__(self, networks: Sequence[str] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str) -> bool:
        if not self.networks:
            return False
        ip = ip_address(address)
        return ip is not None and any(ip in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Sequence[bytes]) -> str:
        """The client address for a request from ``peer`` with these X-Forwarded-For lines."""
        if not self.trusts(peer):
            return peer
        hops = [hop for line in forwarded_for for hop in line.split(b",")][-MAX_HOPS:]
        client = peer
        for hop in reversed(hops):
            address = parse_ip(hop.decode("latin-1"))
            if address is None:
                break  # a malformed hop: nothing left of it can be believed
            client = address
            if not self.trusts(address):
                break
        return client

    def scheme(self, peer: str, forwarded_proto: Sequence[bytes]) -> str | None:
        """``http`` or ``https`` from the last X-Forwarded-Proto of a trusted peer, else None."""
        if not forwarded_proto or not self.trusts(peer):
            return None
        value = forwarded_proto[-1].split(b",")[-1].strip().lower()
        return {b"http": "http", b"https": "https"}.get(value)


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address, an IPv4-mapped IPv6 one as the IPv4 address it
    carries (a dual-stack socket reports IPv4 peers so); None for anything else. Pure."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
