"""What a scrape reads from storage: jobs, backups and certificates, as they are now."""

from __future__ import annotations

import sqlite3
import ssl
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509

from onebin.metrics.state import last_backup
from tests.metrics.scrape import METRICS, Scrape, scrape
from tests.support import ServerProcess, free_port, wait_until
from tests.tls.certificates import issue
from tests.tls.https_server import HttpsServer

JOBAPP = ("--app", "tests.jobs.jobapp:app")


def test_last_backup_is_the_newest_backup_file_by_its_name(tmp_path):
    assert last_backup(tmp_path / "missing") is None
    assert last_backup(tmp_path) is None
    for name in (
        "onebin-20260101T000000Z.sqlite3",
        "onebin-20260301T120000Z.sqlite3",
        "onebin-20260301T120000Z.sqlite3.partial",  # a copy still being made
        "owner.lock",
        "onebin-29990101T000000Z.txt",
    ):
        (tmp_path / name).touch()
    assert last_backup(tmp_path) == datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()


def states_in(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM onebin_jobs GROUP BY state"))


def jobs_scraped(scraped: Scrape) -> dict[str, int]:
    return {
        s.labels["state"]: int(s.value)
        for s in scraped.samples
        if s.name == "onebin_jobs" and s.value
    }


def test_jobs_by_state_are_what_the_database_holds(tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    data = tmp_path / "data"
    with ServerProcess(data, extra_args=(*METRICS, *JOBAPP), env={"JOBAPP_DIR": str(traces)}) as s:
        httpx.post(f"{s.url}/enqueue?kind=block&count=2").raise_for_status()
        httpx.post(f"{s.url}/enqueue?kind=count&count=3").raise_for_status()
        wait_until(lambda: len(list(traces.glob("started-*"))) == 2, what="two blocked jobs")
        wait_until(
            lambda: jobs_scraped(scrape(s.url)) == states_in(data / "onebin.sqlite3"),
            what="the scraped job counts to match the database",
        )
        scraped = scrape(s.url)
        assert scraped.value("onebin_jobs", state="running") == 2
        assert scraped.value("onebin_jobs", state="done") >= 3
        assert scraped.value("onebin_jobs", state="dead") == 0
        (traces / "release").touch()
        wait_until(
            lambda: scrape(s.url).value("onebin_jobs", state="running") == 0,
            what="the released jobs to finish",
        )


def test_the_oldest_due_job_s_wait_grows_while_nothing_runs_it(tmp_path):
    options = (*METRICS, *JOBAPP, "--job-workers", "0")
    with ServerProcess(tmp_path / "data", extra_args=options, env={"JOBAPP_DIR": "x"}) as s:
        assert scrape(s.url).value("onebin_jobs_oldest_due_age_seconds") == 0
        httpx.post(f"{s.url}/enqueue?kind=count&count=3").raise_for_status()
        assert scrape(s.url).value("onebin_jobs", state="queued") == 3
        wait_until(
            lambda: scrape(s.url).count("onebin_jobs_oldest_due_age_seconds") > 0.5,
            what="the oldest job's wait to grow",
        )


def test_the_last_backup_is_the_newest_verified_file(tmp_path):
    options = (*METRICS, "--backup-every", "1h")
    with ServerProcess(tmp_path / "data", extra_args=options) as server:
        backups = tmp_path / "data" / "backups"
        wait_until(lambda: list(backups.glob("*.sqlite3")), what="the first scheduled backup")
        (name,) = [path.name for path in backups.glob("*.sqlite3")]
        taken = datetime.strptime(name, "onebin-%Y%m%dT%H%M%SZ.sqlite3").replace(tzinfo=UTC)
        scraped = scrape(server.url)
        assert scraped.value("onebin_backup_last_success_timestamp_seconds") == taken.timestamp()


def test_without_backups_there_is_no_last_backup(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=METRICS) as server:
        assert scrape(server.url).value("onebin_backup_last_success_timestamp_seconds") is None


def test_the_served_certificate_s_expiry_per_domain(tmp_path):
    issued = issue(tmp_path / "certs", "app.test", "www.app.test", ips=("127.0.0.1",))
    leaf = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    server = HttpsServer(
        tmp_path / "data", http_port=free_port(), tls_args=[*issued.tls_args, *METRICS]
    )
    with server:
        trust = ssl.create_default_context(cafile=str(issued.ca))
        answer = httpx.get(f"https://127.0.0.1:{server.https_port}/metrics", verify=trust)
        assert answer.status_code == 200
        scraped = Scrape(answer.text)
        expiry = "onebin_certificate_expiry_timestamp_seconds"
        for domain in ("app.test", "www.app.test"):
            assert scraped.value(expiry, domain=domain) == leaf.not_valid_after_utc.timestamp()
        assert {s.labels["domain"] for s in scraped.samples if s.name == expiry} == {
            "app.test",
            "www.app.test",
        }


def test_on_postgresql_jobs_are_counted_calls_timed_and_backups_not_reported(
    tmp_path, postgres_url
):
    traces = tmp_path / "traces"
    traces.mkdir()
    options = (*METRICS, *JOBAPP, "--database-url", postgres_url, "--job-workers", "0")
    with ServerProcess(tmp_path / "data", extra_args=options, env={"JOBAPP_DIR": str(traces)}) as s:
        before = scrape(s.url)
        httpx.post(f"{s.url}/enqueue?kind=count&count=4").raise_for_status()
        after = scrape(s.url)
    assert after.value("onebin_jobs", state="queued") == 4
    assert after.count("onebin_db_write_duration_seconds_count") > before.count(
        "onebin_db_write_duration_seconds_count"
    )
    assert after.count("onebin_db_query_duration_seconds_count", kind="read") > 0
    assert after.value("onebin_backup_last_success_timestamp_seconds") is None
