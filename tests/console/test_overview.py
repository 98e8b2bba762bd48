"""The overview on each engine, as ``onebin status`` builds it: real databases, real files."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from onebin.app import App
from onebin.console.backups import take_backup
from onebin.console.overview import (
    backups_section,
    certificates_section,
    existing_ancestor,
    overview,
    standalone,
)
from onebin.items import app as items_app
from onebin.jobs.queue import JobQueue
from onebin.semantic.model import MODEL_ID
from onebin.store.tokens import TokenStore
from onebin.tls.status import tls_status
from onebin.webhooks.store import WebhookStore
from tests.semantic.test_search import add, store_of
from tests.tls.certificates import issue


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def test_overview_of_each_engine(engine_settings, engine_db):
    jobs = JobQueue(engine_db)
    engine_db.write_sync(lambda conn: jobs.enqueue(conn, "console-test.work"))
    WebhookStore(engine_db).add("https://hooks.example/in", ["item.*"])
    tokens = TokenStore(engine_db)
    tokens.create("boss", admin=True)
    tokens.create("writer")
    tokens.create("gone")
    tokens.revoke("gone")
    facts = asyncio.run(overview(standalone(engine_settings, items_app, engine_db)))

    assert facts["versions"]["app"] == {"name": "items", "version": items_app.version}
    assert facts["process"] is None  # no server: nothing to say about processes
    assert facts["health"]["status"] == "ready"
    assert set(facts["health"]["checks"]) == {"database_read", "database_write", "disk"}
    assert facts["jobs"]["counts"] == {
        "queued": 1,
        "running": 0,
        "done": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert facts["webhooks"] == {"count": 1}
    assert facts["search"] == {
        "model": MODEL_ID,
        "collections": {"items": {"embedded": 0, "waiting": 0}},
    }
    assert facts["tokens"] == {"active": 2, "admin": 1}
    assert facts["certificates"] == []
    database = facts["database"]
    assert database["engine"] == engine_db.engine
    assert database["location"] == engine_settings.database_location
    assert isinstance(database["size_bytes"], int)
    assert database["size_bytes"] > 0
    if engine_db.engine == "sqlite":
        assert database["size_bytes"] == engine_settings.database_path.stat().st_size
        assert isinstance(database["wal_bytes"], int)
        assert facts["backups"] == {
            "supported": True,
            "every_seconds": None,
            "count": 0,
            "last": None,
        }
    else:
        assert database["wal_bytes"] is None
        assert "password" not in database["location"]
        assert facts["backups"]["supported"] is False


def test_the_newest_backup_and_the_schedule_are_reported(db, settings):
    scheduled = replace(settings, backup_every=3600.0)
    take_backup(settings.database_path, settings.backup_dir, _at("2026-01-01T00:00:00"))
    newest = take_backup(settings.database_path, settings.backup_dir, _at("2026-01-02T00:00:00"))
    facts = asyncio.run(overview(standalone(scheduled, items_app, db)))
    assert facts["backups"] == {
        "supported": True,
        "every_seconds": 3600.0,
        "count": 2,
        "last": newest.as_json(),
    }


def test_backups_on_postgresql_are_unsupported_whatever_is_on_disk(settings):
    assert backups_section(
        replace(settings, database_url="postgresql:///x"), [], supported=False
    ) == {
        "supported": False,
        "every_seconds": None,
        "count": 0,
        "last": None,
    }


def test_a_certificate_from_tls_cert_is_listed_per_domain(settings, tmp_path):
    issued = issue(tmp_path / "cert", "example.com", "www.example.com")
    with_tls = replace(settings, tls_cert=issued.cert, tls_key=issued.key)
    listed = certificates_section(tls_status(with_tls))
    assert [entry["domain"] for entry in listed] == ["example.com", "www.example.com"]
    first = listed[0]
    assert first["issuer"] == "onebin test root"
    assert first["not_after"].endswith("+00:00")
    assert first["next_renewal"] is None  # never renewed by onebin: the operator's file
    assert first["last_error"] is None


def test_free_space_is_measured_where_the_data_directory_would_be(tmp_path):
    assert existing_ancestor(tmp_path / "not" / "yet") == tmp_path
    assert existing_ancestor(tmp_path) == tmp_path


def test_the_search_section_counts_embedded_and_waiting_rows(engine_settings, engine_db):
    store, search = store_of(engine_db)
    add(store)
    waiting = asyncio.run(overview(standalone(engine_settings, items_app, engine_db)))["search"]
    assert waiting["collections"]["items"] == {"embedded": 0, "waiting": 3}
    asyncio.run(search.indexer.drain())
    done = asyncio.run(overview(standalone(engine_settings, items_app, engine_db)))["search"]
    assert done["collections"]["items"] == {"embedded": 3, "waiting": 0}
    plain = App(name="plain")
    assert asyncio.run(overview(standalone(engine_settings, plain, engine_db)))["search"] == {
        "model": None,
        "collections": {},
    }
