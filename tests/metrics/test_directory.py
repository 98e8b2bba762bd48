"""The serving parent's metrics directory: private, fresh, removed, even after a kill."""

from __future__ import annotations

import os
import stat

import pytest

from onebin.metrics.directory import ENVIRONMENT, abandoned, forget_worker, metrics_directory
from tests.metrics.scrape import METRICS, metrics_directories
from tests.support import ServerProcess


@pytest.fixture
def no_directory(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)


def test_a_private_empty_directory_named_in_the_environment_while_serving(no_directory, tmp_path):
    with metrics_directory(True, tmp_path) as path:
        assert path.parent == tmp_path / "metrics"
        assert path is not None
        assert os.environ[ENVIRONMENT] == str(path)
        assert list(path.iterdir()) == []
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        (path / "counter_1.db").write_bytes(b"x")
    assert not path.exists()
    assert ENVIRONMENT not in os.environ


def test_none_without_metrics(no_directory, tmp_path):
    with metrics_directory(False, tmp_path) as path:
        assert path is None
        assert ENVIRONMENT not in os.environ


def test_a_dead_worker_s_gauges_go_and_its_counts_stay(no_directory, tmp_path):
    with metrics_directory(True, tmp_path) as path:
        assert path is not None
        names = [
            "counter_1.db",
            "histogram_1.db",
            "gauge_livesum_1.db",
            "counter_2.db",
            "gauge_livesum_2.db",
            "gauge_livesum_12.db",
        ]
        for name in names:
            (path / name).write_bytes(b"x")
        forget_worker(1)
        assert sorted(p.name for p in path.iterdir()) == sorted(set(names) - {"gauge_livesum_1.db"})


def test_abandoned_directories_are_those_of_processes_gone():
    names = [
        "onebin-metrics-100-abc",
        "onebin-metrics-200-x_y",
        "onebin-metrics-300-q",
        "onebin-metrics-nopid",
        "onebin-metrics--abc",
        "other-400-abc",
    ]
    assert abandoned(names, alive=lambda pid: pid == 200) == [
        "onebin-metrics-100-abc",
        "onebin-metrics-300-q",
    ]


def test_a_killed_server_s_directory_is_removed_by_the_next_start(tmp_path):
    data = tmp_path / "data"
    ServerProcess(data, extra_args=METRICS).start().kill()
    (killed,) = metrics_directories(tmp_path)
    with ServerProcess(data, extra_args=METRICS) as server:
        (current,) = metrics_directories(tmp_path)
        assert current != killed
        assert server.terminate() == 0
    assert metrics_directories(tmp_path) == []
