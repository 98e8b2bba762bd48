"""An app's jobs as onebin takes them: reserved kinds, handlers, library jobs, /readyz."""

from __future__ import annotations

import asyncio

import pytest

from onebin import App, Periodic
from onebin.compose import app_jobs, job_runner
from onebin.errors import AppError
from onebin.health import Readiness
from onebin.jobs.library import PRUNE_EVENTS, PRUNE_JOBS
from onebin.jobs.runner import JobRunner
from onebin.semantic.indexer import EMBED_KIND
from onebin.webhooks.store import DELIVER as WEBHOOK
from tests.conftest import app_context


async def handler(job) -> None:
    return None


@pytest.fixture
def context(settings, db):
    return app_context(settings, db)


def test_the_library_jobs_and_the_apps_are_merged(context):
    app = App(name="t", jobs=lambda c: {"mail": handler}, periodic=(Periodic("mail", every=60),))
    handlers, periodic = app_jobs(context, app)
    assert set(handlers) == {PRUNE_JOBS, PRUNE_EVENTS, WEBHOOK, EMBED_KIND, "mail"}
    assert [p.kind for p in periodic] == [PRUNE_JOBS, PRUNE_EVENTS, EMBED_KIND, "mail"]
    assert isinstance(job_runner(context, app), JobRunner)


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        (lambda c: {"onebin.webhook": handler}, "job kind 'onebin.webhook' is onebin's"),
        (lambda c: {"bad kind": handler}, "job kind 'bad kind'"),
        (lambda c: {"mail": "not a function"}, "is not a function"),
        (lambda c: [("mail", handler)], "must return a dict"),
    ],
)
def test_an_apps_bad_jobs_are_refused_at_start(context, jobs, message):
    with pytest.raises(AppError, match=message):
        app_jobs(context, App(name="t", jobs=jobs))


def test_a_periodic_job_needs_a_handler(context):
    app = App(name="t", jobs=lambda c: {}, periodic=(Periodic("mail", every=60),))
    with pytest.raises(AppError, match="periodic job 'mail' has no handler"):
        app_jobs(context, app)
    with pytest.raises(AppError, match="need their handlers"):
        App(name="t", periodic=(Periodic("mail", every=60),))
    with pytest.raises(AppError, match="onebin's"):
        App(name="t", jobs=lambda c: {}, periodic=(Periodic("onebin.x", every=60),))


def test_no_runner_with_zero_job_workers(context):
    from dataclasses import replace

    context.settings = replace(context.settings, job_workers=0)
    assert job_runner(context, App(name="t")) is None


def test_readyz_reports_the_backlog(context):
    context.db.write_sync(
        lambda conn: [context.jobs.enqueue(conn, "mail", delay=d) for d in (-5, 0, 60)]
    )
    settings = context.settings
    readiness = Readiness(context.db, settings.data_dir, 0, jobs=context.jobs)
    report = asyncio.run(readiness.report())
    assert report["jobs"]["due"] == 2
    assert 5 <= report["jobs"]["oldest_due_seconds"] < 60


def test_old_events_are_pruned_by_a_library_job(settings, db):
    """Events are kept --events-keep; the library's hourly job deletes older ones."""
    context = app_context(settings, db)
    log = context.events.log
    log.clock = lambda: 1000.0
    db.write_sync(lambda conn: [log.append(conn, "item.updated", {"id": n}) for n in range(3)])
    log.clock = lambda: 1000.0 + settings.events_keep + 1
    db.write_sync(lambda conn: log.append(conn, "item.updated", {"id": 9}))
    handlers, _ = app_jobs(context, App(name="t"))
    asyncio.run(handlers[PRUNE_EVENTS](None))
    kept = db.read_sync(lambda conn: log.after(conn, 0, 10))
    assert [event.data for event in kept] == [{"id": 9}]
