"""The backups directory as the console sees it: only backups' names, newest first."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from onebin.console.backups import BackupExists, backup_path, list_backups, take_backup
from onebin.store.backup import check_backup

NOON = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "../onebin.sqlite3",
        "onebin.sqlite3",
        "..",
        "owner.lock",
        "onebin-20260102T120000Z.sqlite3.partial",
        "onebin-20260102T120000Z.sqlite3/../../x",
        "/etc/passwd",
        "",
    ],
)
def test_only_a_backups_name_names_a_file(tmp_path, name):
    assert backup_path(tmp_path, name) is None


def test_a_backups_name_is_a_file_in_the_directory(tmp_path):
    assert backup_path(tmp_path, "onebin-20260102T120000Z.sqlite3") == (
        tmp_path / "onebin-20260102T120000Z.sqlite3"
    )


def test_listing_is_newest_first_and_skips_other_files(tmp_path):
    (tmp_path / "onebin-20260101T000000Z.sqlite3").write_bytes(b"a")
    (tmp_path / "onebin-20260103T000000Z.sqlite3").write_bytes(b"abc")
    (tmp_path / "owner.lock").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"x")
    listed = list_backups(tmp_path)
    assert [(b.name, b.size_bytes) for b in listed] == [
        ("onebin-20260103T000000Z.sqlite3", 3),
        ("onebin-20260101T000000Z.sqlite3", 1),
    ]
    assert listed[0].as_json()["created_at"] == "2026-01-03T00:00:00+00:00"


def test_no_directory_is_no_backups(tmp_path):
    assert list_backups(tmp_path / "backups") == []


def test_a_backup_taken_now_is_verified_and_listed(db, settings):
    taken = take_backup(settings.database_path, settings.backup_dir, NOON)
    assert taken.name == "onebin-20260102T120000Z.sqlite3"
    check_backup(settings.backup_dir / taken.name)  # an intact onebin database
    assert list_backups(settings.backup_dir) == [taken]


def test_a_second_backup_in_the_same_second_is_refused_not_overwritten(db, settings):
    first = take_backup(settings.database_path, settings.backup_dir, NOON)
    path = settings.backup_dir / first.name
    before = path.read_bytes()
    with pytest.raises(BackupExists, match="exists already"):
        take_backup(settings.database_path, settings.backup_dir, NOON)
    assert path.read_bytes() == before
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
