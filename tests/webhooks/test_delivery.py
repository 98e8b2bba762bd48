"""The delivery job's handler against a real HTTP receiver, on each engine."""

from __future__ import annotations

import asyncio
import logging

import msgspec
import pytest

from onebin.jobs.queue import Job
from onebin.webhooks import WebhookStore
from onebin.webhooks.delivery import DeliveryFailed, delivering, post
from onebin.webhooks.store import DELIVER
from tests.support import free_port
from tests.webhooks.conftest import webhook_jobs
from tests.webhooks.receiver import Receiver


def deliver_queued(context) -> None:
    """Run the handler on every queued delivery, once, as a runner would."""
    store = WebhookStore(context.db)
    handler = delivering(context.db, store).handlers[DELIVER]
    for row in webhook_jobs(context.db):
        job = Job(row["id"], DELIVER, row["payload"], 1, row["max_attempts"])
        asyncio.run(handler(job))


def append(context, event_type: str = "item.created"):
    return context.db.write_sync(
        lambda conn: context.events.append(conn, event_type, {"id": 3, "version": 1})
    )


def test_an_event_is_posted_as_its_stream_envelope_signed(context):
    with Receiver() as receiver:
        webhook, secret = WebhookStore(context.db).add(receiver.url, ["item.*"])
        event = append(context)
        deliver_queued(context)
    (request,) = receiver.all()
    assert request.status == 200
    assert request.body == msgspec.json.encode(event)
    assert request.event == {
        "id": event.id,
        "type": "item.created",
        "time": event.time,
        "data": {"id": 3, "version": 1},
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["onebin-event-id"] == str(event.id)
    assert request.headers["onebin-webhook-id"] == str(webhook.id)
    assert request.signed_by(secret)
    assert secret not in str(request.headers)


@pytest.mark.parametrize("status", [500, 302, 404])
def test_an_answer_other_than_2xx_fails_the_attempt_naming_status_and_url(context, status):
    with Receiver(always_fail=status == 500, success=status) as receiver:
        WebhookStore(context.db).add(receiver.url + "?token=private", ["*"])
        append(context)
        with pytest.raises(DeliveryFailed) as failed:
            deliver_queued(context)
    assert str(failed.value) == f"HTTP {status} from {receiver.url}"
    assert len(receiver.all()) == 1  # a redirect is not followed


def test_a_receiver_that_is_not_there_fails_the_attempt(context):
    url = f"http://127.0.0.1:{free_port()}/hook"
    _, secret = WebhookStore(context.db).add(url, ["*"])
    append(context)
    with pytest.raises(DeliveryFailed, match=f"could not reach {url}") as failed:
        deliver_queued(context)
    assert secret not in str(failed.value)


def test_a_removed_webhook_gets_nothing_and_its_job_is_done(context):
    with Receiver() as receiver:
        store = WebhookStore(context.db)
        webhook, _ = store.add(receiver.url, ["*"])
        append(context)
        store.remove(webhook.id)
        deliver_queued(context)  # no error: nothing left to do
    assert receiver.all() == []


def test_a_pruned_event_is_skipped_with_a_log_line(context, caplog):
    with Receiver() as receiver:
        webhook, _ = WebhookStore(context.db).add(receiver.url, ["*"])
        event = append(context)
        context.db.write_sync(
            lambda conn: conn.execute(f"DELETE FROM onebin_events WHERE id = {event.id}")
        )
        with caplog.at_level(logging.WARNING, logger="onebin"):
            deliver_queued(context)
    assert receiver.all() == []
    assert f"webhook {webhook.id}: event {event.id} was pruned" in caplog.text


def test_a_receiver_that_does_not_answer_in_time_fails_the_attempt():
    with Receiver(hold_first=True) as receiver:
        with pytest.raises(DeliveryFailed) as failed:
            asyncio.run(post(receiver.url + "?a=b", b"{}", {}, timeout=0.3))
        assert receiver.holding.is_set()
    assert str(failed.value) == f"no answer within 0.3s from {receiver.url}"
