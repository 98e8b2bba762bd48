"""Real small file systems for fault tests: tmpfs mounts that fill up or go read-only.

The suite runs as root (so does CI), which is what ``mount`` needs; the faults then
come from the kernel (ENOSPC, EROFS), not from a stand-in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (like "4m") mounted at ``path`` for the block."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, mode: str) -> None:
    """``mode`` is "ro" or "rw"; only possible while nothing has a file open for writing."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Take all free space on ``disk`` but ``leave`` bytes; the filler file's path."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler
