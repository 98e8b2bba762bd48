"""The processes of a running ``onebin serve --workers N``, seen through /proc."""

from __future__ import annotations

from pathlib import Path

from tests.support import ServerProcess, wait_until


def workers_of(pid: int) -> set[int]:
    """The supervisor's children that still run (an exited, unreaped one is not a worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children if running(int(child))}


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def serving_workers(server: ServerProcess) -> set[int]:
    """Running workers that have started serving (their signal handlers are in place)."""
    log = server.log()
    return {
        pid for pid in workers_of(server.process.pid) if f"Started server process [{pid}]" in log
    }


def wait_for_workers(server: ServerProcess, count: int = 2) -> set[int]:
    wait_until(lambda: len(serving_workers(server)) == count, what=f"{count} serving workers")
    return serving_workers(server)
