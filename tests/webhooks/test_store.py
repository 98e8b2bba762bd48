"""Fan-out: each event queues one delivery per matching webhook, in its own transaction."""

from __future__ import annotations

import pytest

from onebin.errors import NotFound
from onebin.webhooks import WebhookStore
from onebin.webhooks.store import MAX_ATTEMPTS
from tests.webhooks.conftest import webhook_jobs


def append(context, event_type: str, data: dict | None = None) -> int:
    return context.db.write_sync(
        lambda conn: context.events.append(conn, event_type, data or {"id": 1}).id
    )


def test_an_event_queues_a_delivery_for_each_matching_webhook(context, engine_db):
    store = WebhookStore(engine_db)
    items, _ = store.add("https://a.example/hook", ["item.*"])
    deletions, _ = store.add("https://b.example/hook", ["*.deleted"])
    everything, _ = store.add("https://c.example/hook", ["*"])
    created = append(context, "item.created")
    deleted = append(context, "item.deleted")
    other = append(context, "order.placed")
    queued = [(job["payload"], job["idempotency_key"]) for job in webhook_jobs(engine_db)]
    expected = [
        (items.id, created),
        (everything.id, created),
        (items.id, deleted),
        (deletions.id, deleted),
        (everything.id, deleted),
        (everything.id, other),
    ]
    assert sorted(queued, key=lambda q: (q[0]["event"], q[0]["webhook"])) == [
        ({"webhook": w, "event": e}, f"webhook:{w}:{e}") for w, e in expected
    ]
    assert {job["max_attempts"] for job in webhook_jobs(engine_db)} == {MAX_ATTEMPTS}


def test_no_delivery_without_its_event_and_none_before_the_webhook(context, engine_db):
    append(context, "item.created")  # before any webhook: nobody to tell
    WebhookStore(engine_db).add("https://a.example/hook", ["*"])

    def rolled_back(conn):
        context.events.append(conn, "item.created", {"id": 2})
        raise RuntimeError("the change fails after its event")

    with pytest.raises(RuntimeError):
        engine_db.write_sync(rolled_back)
    assert webhook_jobs(engine_db) == []
    after = append(context, "item.updated")
    assert [job["payload"]["event"] for job in webhook_jobs(engine_db)] == [after]


def test_a_removed_webhook_gets_no_more_deliveries(context, engine_db):
    store = WebhookStore(engine_db)
    webhook, _ = store.add("https://a.example/hook", ["*"])
    first = append(context, "item.created")
    assert store.remove(webhook.id) == webhook
    append(context, "item.updated")
    assert [job["payload"]["event"] for job in webhook_jobs(engine_db)] == [first]
    with pytest.raises(NotFound, match=f"no webhook {webhook.id}"):
        store.remove(webhook.id)


def test_list_never_holds_the_secret(engine_db):
    store = WebhookStore(engine_db)
    webhook, secret = store.add("https://a.example/hook", ["item.*", "order.*"])
    assert store.list() == [webhook]
    assert webhook.events == ("item.*", "order.*")
    assert secret not in repr(store.list())
    target = engine_db.read_sync(lambda conn: store.target(conn, webhook.id))
    assert target == (webhook, secret)


def test_add_refuses_a_bad_url_or_pattern(engine_db):
    store = WebhookStore(engine_db)
    with pytest.raises(ValueError, match="http"):
        store.add("ftp://a.example/", ["*"])
    with pytest.raises(ValueError, match="pattern"):
        store.add("https://a.example/", ["Item"])
    assert store.list() == []
