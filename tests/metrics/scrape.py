"""Reading a real server's ``/metrics`` the way Prometheus does, for the tests."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ONEBIN, ServerProcess

METRICS = ("--metrics",)


class Scrape:
    """One scrape's samples, parsed with prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample ``name`` whose labels include ``labels``; None if there is none.
        Several matching samples are summed (a total over the labels left open)."""
        found = [s.value for s in self.samples if s.name == name and _has(s.labels, labels)]
        return sum(found) if found else None

    def count(self, name: str, **labels: str) -> float:
        """Like ``value``, 0 when absent (a counter nobody incremented yet)."""
        return self.value(name, **labels) or 0.0

    def buckets(self, name: str, **labels: str) -> dict[str, float]:
        """A histogram's cumulative buckets, by ``le``."""
        return {
            s.labels["le"]: s.value
            for s in self.samples
            if s.name == f"{name}_bucket" and _has(s.labels, labels)
        }


def _has(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def scrape(url: str, **headers: str) -> Scrape:
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def admin_token(server: ServerProcess, name: str = "admin") -> str:
    result = subprocess.run(
        [*ONEBIN, "token", "create", "--admin", "--name", name, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def metrics_directories(tmp_path: Path) -> list[Path]:
    """The metrics directories of the servers a test started in ``tmp_path / "data"``."""
    return sorted((tmp_path / "data" / "metrics").glob("onebin-metrics-*"))
