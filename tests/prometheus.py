"""A real Prometheus server scraping onebin, run by the test itself.

Debian's ``prometheus`` (2.42) runs unprivileged in the foreground from a config
file and a storage directory given on the command line, so a test writes its own
config on free ports and stops the process at the end. The config is the one the
README suggests, with a one-second scrape interval so a test need not wait long.

Nothing is skipped: without the binary the tests that need it fail and say how to
get it (``make test`` installs Debian's ``prometheus`` when it is missing).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Daemon, free_port, wait_until


def find_prometheus() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail(
            "prometheus not found: run 'make test', which installs Debian's prometheus "
            "package, or 'apt-get install prometheus'",
            pytrace=False,
        )
    return found


def config(target: str, *, interval: str = "1s") -> str:
    """A scrape config for one onebin at ``target`` (host:port), scraped from this host."""
    return f"""\
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
scrape_configs:
  - job_name: onebin
    static_configs:
      - targets: ["{target}"]
"""


class Prometheus(Daemon):
    def __init__(self, workdir: Path, target: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.target = target

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config(self.target))
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                find_prometheus(),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self.ready, timeout=30, what=f"prometheus on :{self.port} to be ready")
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of ``expression`` (PromQL), through the HTTP API."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result
