"""The event log on both engines: an event exists if and only if its write committed,
ids are in commit order, and pruning keeps what resuming needs."""

from __future__ import annotations

import threading

import pytest

from onebin.events import EventLog
from onebin.events.log import check_type


def append(log: EventLog, event_type: str = "item.updated", **data: object) -> int:
    return log.db.write_sync(lambda conn: log.append(conn, event_type, data)).id


def test_an_event_is_read_back_in_id_order_with_its_data(log):
    first = append(log, "item.created", id=7, version=1)
    second = append(log, "item.updated", id=7, version=2)
    assert second > first
    events = log.db.read_sync(lambda conn: log.after(conn, 0, 10))
    assert [(e.id, e.type, e.data) for e in events] == [
        (first, "item.created", {"id": 7, "version": 1}),
        (second, "item.updated", {"id": 7, "version": 2}),
    ]
    assert events[0].time.endswith("Z")
    assert log.db.read_sync(lambda conn: log.after(conn, first, 10)) == events[1:]
    assert log.db.read_sync(lambda conn: log.after(conn, 0, 1)) == events[:1]


def test_a_write_that_fails_leaves_no_event(log):
    class Refused(Exception):
        pass

    def change_then_fail(conn):
        log.append(conn, "item.updated", {"id": 1})
        raise Refused

    with pytest.raises(Refused):
        log.db.write_sync(change_then_fail)
    assert log.db.read_sync(lambda conn: log.after(conn, 0, 10)) == []


def test_hooks_run_in_the_appending_transaction(log):
    seen = []
    log.on_append(lambda conn, event: seen.append((event.type, event.data)))
    append(log, "item.deleted", id=3, version=4)
    assert seen == [("item.deleted", {"id": 3, "version": 4})]


@pytest.mark.parametrize("bad", ["", "Item.updated", "item..x", "item.", "x" * 65, "item updated"])
def test_event_types_are_dotted_lower_case_names(bad):
    with pytest.raises(ValueError, match="event type"):
        check_type(bad)


def test_prune_deletes_old_events_but_keeps_the_newest(log):
    now = [1000.0]
    log.clock = lambda: now[0]
    old = [append(log, id=n) for n in range(3)]
    now[0] = 5000.0
    recent = append(log, id=9)
    deleted = log.db.write_sync(lambda conn: log.prune(conn, keep_seconds=100))
    assert deleted == 3
    assert log.db.read_sync(log.bounds) == (recent, recent)
    now[0] = 9000.0
    assert log.db.write_sync(lambda conn: log.prune(conn, keep_seconds=100)) == 0
    assert log.db.read_sync(log.bounds) == (recent, recent)
    assert old[-1] < recent


def test_postgresql_appends_commit_in_id_order(postgres_url, tmp_path):
    """A sequence hands out ids before commit: without the append lock, a reader saw id 2
    while id 1 was still uncommitted, and a stream resuming after 2 lost 1 for good."""
    from onebin.compose import open_database
    from onebin.config import Settings
    from onebin.items import app as items_app
    from onebin.store.notices import notices_for

    db = open_database(Settings(data_dir=tmp_path, database_url=postgres_url), items_app)
    log = EventLog(db, notices_for(db, ()))
    first_appended, release_first = threading.Event(), threading.Event()

    def slow(conn):
        log.append(conn, "item.updated", {"id": 1})
        first_appended.set()
        release_first.wait(10)

    slow_writer = threading.Thread(target=db.write_sync, args=(slow,))
    slow_writer.start()
    try:
        assert first_appended.wait(10)
        fast_writer = threading.Thread(target=append, args=(log,))
        fast_writer.start()
        fast_writer.join(0.5)  # waits behind the first append's lock, so never ends here
        visible = db.read_sync(lambda conn: log.after(conn, 0, 10))
        assert visible == [], "a later event became visible before an earlier one committed"
    finally:
        release_first.set()
        slow_writer.join(10)
    fast_writer.join(10)
    ids = [event.id for event in db.read_sync(lambda conn: log.after(conn, 0, 10))]
    assert len(ids) == 2
    assert ids == sorted(ids)
    db.close()
