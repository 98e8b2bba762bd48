"""Advisory locks: on the data directory, and on a duty only one process performs.

``DataDirLock``: so offline operations know a server is up.
Servers and commands hold it shared (several may share a data directory); ``restore``
needs it exclusive and refuses at once rather than replacing a database under a
running server. A shared holder first tries for a moment of exclusivity: the first
process to arrive knows it is ``alone``, which is when it is safe to finish an
interrupted restore or check a file that was not closed cleanly.

``OwnerLock``: of several processes sharing a data directory, the one that talks to
the CA, or takes the scheduled backups; when it dies another one takes over.

``flock`` locks vanish with the process, so a crash never leaves a stale one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from onebin.errors import DataDirError, DataDirLocked
from onebin.store.files import PRIVATE_FILE, private_dir

LOCK_NAME = "onebin.lock"


class DataDirLock:
    def __init__(self, data_dir: Path, *, exclusive: bool) -> None:
        self.path = data_dir / LOCK_NAME
        self.exclusive = exclusive
        self.alone = False
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as error:
            raise DataDirError(
                f"cannot use data directory {self.path.parent}: {error.strerror}"
            ) from None
        try:
            self.alone = _try(fd, fcntl.LOCK_EX)
            if not self.alone and (self.exclusive or not _try(fd, fcntl.LOCK_SH)):
                raise DataDirLocked(
                    f"{self.path.parent} is in use by a running onebin process; stop it first"
                )
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def share(self) -> None:
        """Let other servers and commands in (after the start-up work done while alone)."""
        if self._fd is not None and not self.exclusive:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

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


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class OwnerLock:
    """An exclusive, non-blocking lock on a file, released by the kernel if the holder dies."""

    # Held until released or the holder dies: it never needs renewing (tls ``Ownership``).
    hold_seconds: float | None = None

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def try_acquire(self) -> bool:
        """True if this process holds the lock (now or already)."""
        if self._descriptor is not None:
            return True
        private_dir(self.path.parent)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        if not _try(descriptor, fcntl.LOCK_EX):
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
