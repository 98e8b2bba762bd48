"""``/metrics``: off by default, then for this host's clients and admin tokens only, and
readable by a real Prometheus."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from onebin import App, JsonResponse
from onebin.compose import build_app, make_context, open_database
from onebin.config import Settings
from onebin.limiter import SharedFailureLimiter
from onebin.metrics.endpoint import is_loopback
from tests.metrics.scrape import (
    METRICS,
    Scrape,
    admin_token,
    metrics_directories,
    scrape,
)
from tests.prometheus import Prometheus
from tests.support import ServerProcess, wait_until

# The server believes X-Forwarded-For from the test (on loopback): a request can then
# come from anywhere.
PROXIED = ("--trusted-proxies", "127.0.0.1/32")
REMOTE = {"x-forwarded-for": "203.0.113.9"}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("203.0.113.9", False),
        ("::2", False),
        ("fe80::1", False),
        ("localhost", False),
        ("", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_remote_clients_need_an_admin_token(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=(*METRICS, *PROXIED)) as server:
        write, admin = server.token("writer"), admin_token(server)
        url = f"{server.url}/metrics"

        anonymous = httpx.get(url, headers=REMOTE)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        assert "admin token" in anonymous.json()["error"]["message"]
        assert anonymous.headers["www-authenticate"].startswith("Bearer")

        bad = httpx.get(url, headers={**REMOTE, "authorization": "Bearer ob_wrong"})
        assert bad.status_code == 401
        writer = httpx.get(url, headers={**REMOTE, "authorization": f"Bearer {write}"})
        assert writer.status_code == 403
        assert writer.json()["error"]["code"] == "admin_required"

        allowed = httpx.get(url, headers={**REMOTE, "authorization": f"Bearer {admin}"})
        assert allowed.status_code == 200
        assert allowed.headers["content-type"].startswith("text/plain")
        assert allowed.headers["cache-control"] == "no-store"
        assert Scrape(allowed.text).count("onebin_http_requests_total", route="/metrics") >= 3

        # A client on this host, directly or through the proxy, needs nothing.
        assert httpx.get(url).status_code == 200
        assert httpx.get(url, headers={"x-forwarded-for": "127.0.0.1"}).status_code == 200
        assert httpx.post(url).status_code == 405


def test_metrics_are_off_by_default_and_the_path_is_then_the_app_s(tmp_path):
    with ServerProcess(tmp_path / "data") as server:
        answer = httpx.get(f"{server.url}/metrics")
        # The items app's own answer for a path it has no file for: its page.
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert "onebin_" not in answer.text
        assert metrics_directories(tmp_path) == []


LOADS = """
import sys
from pathlib import Path
import onebin.cli, onebin.server.run
from onebin.compose import build_app, make_context, open_database
from onebin.config import Settings
from onebin.items import app
from onebin.limiter import SharedFailureLimiter

settings = Settings(data_dir=Path(sys.argv[1]), metrics=sys.argv[2] == "on")
db = open_database(settings, app)
build_app(make_context(settings, db, SharedFailureLimiter(max_failures=10), app=app), app)
db.close()
print("prometheus_client" in sys.modules)
"""


@pytest.mark.parametrize(("metrics", "loaded"), [("off", "False"), ("on", "True")])
def test_prometheus_client_is_loaded_only_with_metrics(tmp_path, metrics, loaded):
    result = subprocess.run(
        [sys.executable, "-c", LOADS, str(tmp_path / "data"), metrics],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == loaded


def test_a_real_prometheus_scrapes_onebin(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=METRICS) as server:
        target = f"127.0.0.1:{server.port}"
        with Prometheus(tmp_path / "prometheus", target) as prometheus:

            def value(expression: str) -> float | None:
                result = prometheus.query(expression)
                return float(result[0]["value"][1]) if result else None

            wait_until(
                lambda: value('up{job="onebin"}') == 1,
                timeout=30,
                interval=0.2,
                what=f"prometheus to scrape onebin\n{prometheus.log()}",
            )
            # Its own scrapes, counted by onebin and read back from Prometheus.
            wait_until(
                lambda: (
                    (value('onebin_http_requests_total{route="/metrics",status="200"}') or 0) >= 2
                ),
                timeout=30,
                interval=0.2,
                what="onebin's count of the scrapes in prometheus",
            )
            assert value('onebin_jobs{state="dead"}') == 0
            assert value('sum(onebin_connections_refused_total{cause="max_connections"})') == 0
            assert scrape(server.url).count("onebin_http_requests_total", route="/metrics") >= 2


async def app_metrics(request):
    return JsonResponse({"mine": True})


SHADOWED = App(name="shadowed", routes=lambda context: [Route("/metrics", app_metrics)])


@pytest.mark.parametrize("metrics", [False, True])
def test_an_app_route_at_metrics_is_the_app_s_unless_metrics_are_on(tmp_path, caplog, metrics):
    settings = Settings(data_dir=tmp_path / "data", metrics=metrics)
    db = open_database(settings, SHADOWED)
    try:
        limiter = SharedFailureLimiter(max_failures=10)
        built = build_app(make_context(settings, db, limiter), SHADOWED)
        answer = TestClient(built).get("/metrics", headers={"authorization": "Bearer x"})
    finally:
        db.close()
    if metrics:
        assert "onebin answers /metrics, not the app's route" in caplog.text
        assert answer.status_code == 401  # onebin's: the test client is no loopback client
    else:
        assert answer.json() == {"mine": True}
        assert "onebin answers /metrics" not in caplog.text
