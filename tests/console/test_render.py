"""``onebin status``'s text: the overview rendered for a terminal (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from onebin.console.render import duration, render, size

OVERVIEW: dict[str, Any] = {
    "versions": {
        "onebin": "0.1.0",
        "app": {"name": "items", "version": "1.2.3"},
        "python": "3.11.7",
        "sqlite": "3.40.1",
        "openssl": "OpenSSL 3.0.19 27 Jan 2026",
    },
    "process": None,
    "health": {
        "status": "ready",
        "checks": {"database_read": "ok", "database_write": "ok", "disk": "ok"},
    },
    "database": {
        "engine": "sqlite",
        "location": "/srv/data/onebin.sqlite3",
        "size_bytes": 1536,
        "wal_bytes": 0,
    },
    "certificates": [],
    "jobs": {
        "counts": {"queued": 2, "running": 0, "done": 5, "dead": 1, "cancelled": 0},
        "oldest_due_seconds": 75.2,
    },
    "tokens": {"active": 3, "admin": 1},
    "webhooks": {"count": 3},
    "backups": {"supported": True, "every_seconds": 21600.0, "count": 0, "last": None},
    "search": {"model": "m-1", "collections": {"items": {"embedded": 10, "waiting": 2}}},
}


def overview(**sections: Any) -> dict[str, Any]:
    made = copy.deepcopy(OVERVIEW)
    made.update(sections)
    return made


@pytest.mark.parametrize(
    ("count", "text"),
    [(None, "?"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")],
)
def test_size_is_for_people(count, text):
    assert size(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (75, "1m 15s"),
        (3 * 3600 + 60 * 12 + 5, "3h 12m"),
        (90000, "1d 1h"),
    ],
)
def test_duration_shows_the_two_largest_units(seconds, text):
    assert duration(seconds) == text


def test_a_healthy_sqlite_service_in_a_few_lines():
    assert render(OVERVIEW).splitlines() == [
        "items 1.2.3 (onebin 0.1.0, Python 3.11.7, SQLite 3.40.1, OpenSSL 3.0.19 27 Jan 2026)",
        "health        ready",
        "              database_read: ok",
        "              database_write: ok",
        "              disk: ok",
        "database      sqlite /srv/data/onebin.sqlite3, 1.5 KiB (WAL 0 B)",
        "certificates  none (HTTPS is off)",
        "tokens        3 active (1 admin)",
        "jobs          queued 2, running 0, done 5, dead 1, cancelled 0; oldest due 1m 15s",
        "webhooks      3",
        "backups       none; every 6h",
        "search        model m-1",
        "              items: 10 embedded, 2 waiting",
    ]


def test_a_failing_check_says_not_ready_and_why():
    text = render(
        overview(
            health={
                "status": "not_ready",
                "checks": {"database_read": "ok", "database_write": "ok", "disk": "3 MiB free"},
            }
        )
    )
    assert "health        NOT READY" in text
    assert "              disk: 3 MiB free" in text


def test_a_running_server_shows_its_processes():
    process = {
        "pid": 41,
        "started_at": "2026-01-02T03:04:05+00:00",
        "uptime_seconds": 3700.0,
        "workers": 2,
    }
    assert (
        "process       pid 41, 2 workers, up 1h 1m (since 2026-01-02T03:04:05+00:00)"
        in render(overview(process=process)).splitlines()
    )


def test_postgresql_has_no_wal_figure_and_no_onebin_backups():
    text = render(
        overview(
            database={
                "engine": "postgresql",
                "location": "postgresql://onebin@db/app",
                "size_bytes": 8 * 1024**2,
                "wal_bytes": None,
            },
            backups={"supported": False, "every_seconds": None, "count": 0, "last": None},
        )
    )
    assert "database      postgresql postgresql://onebin@db/app, 8.0 MiB" in text.splitlines()
    assert "backups       not taken by onebin on PostgreSQL (use pg_dump)" in text.splitlines()


def test_certificates_one_line_per_domain():
    certificates = [
        {
            "domain": "example.com",
            "issuer": "R3",
            "not_after": "2026-03-01T00:00:00+00:00",
            "next_renewal": "2026-01-30T00:00:00+00:00",
            "last_error": None,
        },
        {
            "domain": "www.example.com",
            "issuer": None,
            "not_after": None,
            "next_renewal": None,
            "last_error": "rate limited",
        },
    ]
    lines = render(overview(certificates=certificates)).splitlines()
    assert "certificates  2" in lines
    assert (
        "              example.com: R3, expires 2026-03-01T00:00:00+00:00, "
        "renewal 2026-01-30T00:00:00+00:00" in lines
    )
    assert "              www.example.com: no certificate yet, last error: rate limited" in lines


def test_the_newest_backup_and_the_schedule():
    last = {"name": "onebin-20260101T000000Z.sqlite3", "size_bytes": 2048, "created_at": "x"}
    text = render(
        overview(backups={"supported": True, "every_seconds": None, "count": 4, "last": last})
    )
    assert (
        "backups       4, newest onebin-20260101T000000Z.sqlite3 (2.0 KiB); "
        "not scheduled (--backup-every)" in text.splitlines()
    )


def test_search_shows_each_collection_and_nothing_without_one():
    text = render(overview())
    assert "search" in text
    assert "m-1" in text
    assert "items: 10 embedded, 2 waiting" in text
    assert "search" not in render(overview(search={"model": None, "collections": {}}))
