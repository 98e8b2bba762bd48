"""Scheduled backups: ``--backup-every`` into ``DATA_DIR/backups``, the newest N kept.

One process takes them (the holder of ``backups/owner.lock``; when it dies another
takes over at its next look), in a background thread, with the same one-snapshot,
verified copy as ``onebin backup``. The schedule is read from the files already
there, so a restart neither repeats a fresh backup nor forgets a due one. A failed
backup is logged in one line and retried sooner; older backups are pruned only
after a new one was written and verified.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from onebin.errors import OnebinError
from onebin.store.backup import backup
from onebin.store.lock import OwnerLock

logger = logging.getLogger("onebin.backup")

NAME_FORMAT = "onebin-%Y%m%dT%H%M%SZ.sqlite3"
RETRY_AFTER_FAILURE = timedelta(minutes=5)
# How often a process that does not hold the owner lock looks again.
FOLLOWER_INTERVAL = 60.0


def backup_name(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(NAME_FORMAT)


def taken_at(name: str) -> datetime | None:
    """When a backup file was taken, from its name; None for any other file."""
    try:
        return datetime.strptime(name, NAME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def next_due(taken: list[datetime], every: timedelta, now: datetime) -> datetime:
    """When the next backup is due: ``every`` after the newest, or now. Pure."""
    return max(taken) + every if taken else now


def to_prune(names: list[str], keep: int) -> list[str]:
    """The backup files beyond the newest ``keep``, oldest last. Pure."""
    dated = sorted((moment, name) for name in names if (moment := taken_at(name)) is not None)
    dated.reverse()
    return [name for _, name in dated[keep:]]


@dataclass
class BackupScheduler:
    database: Path
    directory: Path
    every: timedelta
    keep: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner = OwnerLock(self.directory / "owner.lock")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="onebin-backups", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._owner.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.step()
            except (OnebinError, OSError) as error:
                logger.error("scheduled backup failed: %s", error)
                delay = RETRY_AFTER_FAILURE.total_seconds()
            self._stop.wait(delay)

    def step(self) -> float:
        """Take a backup if one is due; the seconds until the next look."""
        if not self._owner.try_acquire():
            return FOLLOWER_INTERVAL
        names = [path.name for path in self.directory.iterdir()]
        taken = [moment for name in names if (moment := taken_at(name)) is not None]
        now = self.clock()
        due = next_due(taken, self.every, now)
        if due > now:
            return (due - now).total_seconds()
        path = self.directory / backup_name(now)
        started = time.monotonic()
        size = backup(self.database, path)
        logger.info(
            "backup written and verified: %s (%s bytes in %.1fs)",
            path,
            f"{size:,}",
            time.monotonic() - started,
        )
        for name in to_prune([*names, path.name], self.keep):
            (self.directory / name).unlink(missing_ok=True)
            logger.info("removed old backup %s (keeping %d)", name, self.keep)
        return self.every.total_seconds()
