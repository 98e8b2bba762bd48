"""A real HAProxy in front of onebin replicas, run by the test itself.

Debian's ``haproxy`` (2.6) runs unprivileged in the foreground from a config file
given on the command line (``haproxy -f cfg -db``), so a test writes its own config
on free ports and stops the process at the end. The config is the one the README
suggests, with short check intervals so a dead replica is out within a second:
round-robin, ``GET /readyz`` as the health check, connection failures retried on
another replica (nothing was sent, so even a POST is safe to resend).

A stats page (``/stats;csv`` on its own port) tells a test what HAProxy thinks of
each replica (``UP``/``DOWN``) and how many requests each one got.

Nothing is skipped: without the binary the tests that need it fail and say how to
get it (``make test`` installs Debian's ``haproxy`` when it is missing).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from tests.support import Daemon, free_port, wait_until

# What a client gets when no replica is ready: JSON like onebin's own errors.
NO_REPLICA = (
    '{"error":{"code":"no_replica_ready","message":"no onebin replica is ready; retry later"}}'
)


def find_haproxy() -> str:
    found = shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")
    if found is None:
        pytest.fail(
            "haproxy not found: run 'make test', which installs Debian's haproxy "
            "package, or 'apt-get install haproxy'",
            pytrace=False,
        )
    return found


def config(
    backends: Sequence[int],
    *,
    port: int,
    stats_port: int,
    check_interval_ms: int = 200,
    fall: int = 2,
    http_check: bool = True,
) -> str:
    """An HAProxy config: ``port`` in front of ``backends`` (ports on 127.0.0.1).

    ``http_check=False`` checks that a replica accepts connections, nothing more: for
    the HTTP port of replicas serving HTTPS themselves, where every path but the
    CA's challenges is a redirect (``/readyz`` is for their HTTPS port).
    """
    servers = "\n".join(
        f"    server r{number} 127.0.0.1:{backend} check" for number, backend in enumerate(backends)
    )
    checks = (
        "    option httpchk\n"
        "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost\n"
        "    http-check expect status 200\n"
        if http_check
        else ""
    )
    timing = f"inter {check_interval_ms}ms fastinter {check_interval_ms}ms fall {fall} rise 1"
    return f"""\
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    # A connection refused sent nothing: try it again, on another replica.
    retries 3
    option redispatch 1
    option forwardfor

frontend web
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
{checks}    default-server {timing}
    http-error status 503 content-type application/json string '{NO_REPLICA}'
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class HAProxy(Daemon):
    """``haproxy -f cfg -db`` on free ports in front of ``backends``; ``stop`` at the end."""

    def __init__(self, backends: Sequence[int], workdir: Path, **options: int | bool) -> None:
        self.backends = tuple(backends)
        self.port = free_port()
        self.stats_port = free_port()
        self.workdir = workdir
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = workdir / "haproxy.log"
        self.options = options

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HAProxy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            config(self.backends, port=self.port, stats_port=self.stats_port, **self.options)
        )
        binary = find_haproxy()
        checked = subprocess.run(
            [binary, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if checked.returncode != 0:
            raise AssertionError(f"haproxy refused its config:\n{checked.stderr}")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-f", str(self.config_path), "-db"], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._answers, what=f"haproxy on :{self.port}")
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"haproxy exited with {self.process.returncode}:\n{self.log()}")
        try:
            httpx.get(f"http://127.0.0.1:{self.stats_port}/stats", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's view of each replica (``r0``, ``r1``...): its stats CSV row."""
        text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5).text
        rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def status(self) -> dict[str, str]:
        """``{"r0": "UP", "r1": "DOWN", ...}`` (a state in transition reads ``UP 1/2``)."""
        return {name: row["status"] for name, row in self.servers().items()}

    def requests(self) -> dict[str, int]:
        """Requests sent to each replica so far (health checks not counted)."""
        return {name: int(row["stot"] or 0) for name, row in self.servers().items()}

    def wait_for(self, expected: dict[str, str], timeout: float = 15.0) -> None:
        """Poll the stats until each named replica has the expected status."""

        def reached() -> bool:
            status = self.status()
            return all(status.get(name) == state for name, state in expected.items())

        wait_until(reached, timeout=timeout, what=f"haproxy to see {expected}")
