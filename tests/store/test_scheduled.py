from __future__ import annotations

from datetime import UTC, datetime, timedelta

from onebin.store.scheduled import backup_name, next_due, taken_at, to_prune

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_names_carry_the_time_and_other_files_are_not_backups():
    name = backup_name(T0)
    assert name == "onebin-20261126T120000Z.sqlite3"
    assert taken_at(name) == T0
    assert taken_at("onebin-20261126T120000Z.sqlite3.partial") is None
    assert taken_at("owner.lock") is None


def test_the_next_backup_is_due_after_the_newest_or_now():
    every = timedelta(hours=6)
    assert next_due([], every, T0) == T0
    assert next_due([T0 - timedelta(hours=1), T0 - timedelta(hours=9)], every, T0) == (
        T0 + timedelta(hours=5)
    )


def test_pruning_keeps_the_newest_and_ignores_other_files():
    names = [backup_name(T0 - timedelta(hours=h)) for h in (3, 0, 9, 6)] + ["owner.lock"]
    assert to_prune(names, 2) == [
        backup_name(T0 - timedelta(hours=6)),
        backup_name(T0 - timedelta(hours=9)),
    ]
    assert to_prune(names, 10) == []
