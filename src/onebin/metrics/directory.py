"""The directory the serving processes keep their metrics in, made by the serving parent.

``prometheus_client`` in multiprocess mode finds it through the environment
variable ``PROMETHEUS_MULTIPROC_DIR``, which must be set before any worker forks
(workers inherit it) and before ``prometheus_client`` is imported. The directory is
private to one run: created empty at start (so no count of an earlier run or of
another server leaks in), readable only by the server's user, removed at exit.
It lives in the data directory (``DATA_DIR/metrics/``), not in ``/tmp``: cleaners of
temporary files (systemd-tmpfiles removes what is untouched for days) would delete
a quiet server's counter files from under it.

A server that is killed (SIGKILL, the OOM killer) cannot remove it, so its name
carries the serving process's id, and a server starting with ``--metrics`` removes
the directories whose process is gone: however often a server dies, the temporary
directory holds at most one such directory per live server (and per dead one whose
id a live process has taken since).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "onebin-metrics-"


def abandoned(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """The metrics directories among ``names`` whose server process is gone. Pure."""
    found = []
    for name in names:
        pid, dash, _ = name.removeprefix(PREFIX).partition("-")
        if name.startswith(PREFIX) and dash and pid.isdigit() and not alive(int(pid)):
            found.append(name)
    return found


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive (and its directory not ours)
        return True
    return True


@contextlib.contextmanager
def metrics_directory(enabled: bool, data_dir: Path) -> Iterator[Path | None]:
    """A fresh private directory in ``data_dir``, named in the environment while the
    server runs; nothing (None) when metrics are off."""
    if not enabled:
        yield None
        return
    parent = data_dir / "metrics"
    parent.mkdir(mode=0o700, exist_ok=True)
    for name in abandoned((path.name for path in parent.glob(PREFIX + "*")), is_running):
        shutil.rmtree(parent / name, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))  # mode 0700
    previous = os.environ.get(ENVIRONMENT)
    os.environ[ENVIRONMENT] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENVIRONMENT, None)
        else:
            os.environ[ENVIRONMENT] = previous
        shutil.rmtree(path, ignore_errors=True)


def forget_worker(number: int) -> None:
    """Drop the gauges of worker ``number``, which has exited (its counters stay:
    they are part of the totals, and its replacement counts on in them)."""
    if ENVIRONMENT not in os.environ:
        return
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(str(number))
