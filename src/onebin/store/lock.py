"""An advisory lock on the data directory, so offline operations know a server is up.

Servers hold it shared (several may share a data directory); ``restore`` needs it
exclusive and refuses at once rather than replacing a database under a running
server. ``flock`` locks vanish with the process, so a crash never leaves a stale one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from onebin.errors import DataDirLocked

LOCK_NAME = "onebin.lock"


class DataDirLock:
    def __init__(self, data_dir: Path, *, exclusive: bool) -> None:
        self.path = data_dir / LOCK_NAME
        self.exclusive = exclusive
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirLocked(
                f"{self.path.parent} is in use by a running onebin server; stop it first"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
