"""The backups directory as the console sees it: list, take one now, find one to download.

Backups taken from the console are the scheduled backups' kind: same directory
(``DATA_DIR/backups``), same names, same one-snapshot verified copy as ``onebin
backup``. So the schedule counts a console backup as its latest, and pruning keeps
the newest ``--backup-keep`` of both. Only names of that exact form are listed or
served: a name is never joined to the directory unless it is one, which leaves no
room for ``../`` or any other path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from onebin.errors import StoreError
from onebin.store.backup import backup
from onebin.store.files import private_dir
from onebin.store.scheduled import backup_name, taken_at


@dataclass(frozen=True)
class BackupFile:
    name: str
    size_bytes: int
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


class BackupExists(StoreError):
    """A backup of that name (taken the same second) is already there."""


def backup_path(directory: Path, name: str) -> Path | None:
    """The file a backup ``name`` is, or None unless it is a backup's name. Pure."""
    return directory / name if taken_at(name) is not None else None


def list_backups(directory: Path) -> list[BackupFile]:
    """The backups in ``directory``, newest first; none if it does not exist."""
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        moment = taken_at(entry.name)
        if moment is None:
            continue
        try:
            size = entry.stat().st_size
        except FileNotFoundError:  # pruned meanwhile
            continue
        found.append(BackupFile(entry.name, size, moment))
    found.sort(key=lambda file: file.created_at, reverse=True)
    return found


def take_backup(database: Path, directory: Path, now: datetime) -> BackupFile:
    """A verified backup of ``database`` into ``directory``, named for ``now``.

    Blocking (it reads the whole database): run it off the event loop.
    """
    private_dir(directory)
    path = directory / backup_name(now)
    if path.exists():
        raise BackupExists(f"a backup named {path.name} exists already; try again in a second")
    size = backup(database, path)
    return BackupFile(path.name, size, taken_at(path.name) or now)
