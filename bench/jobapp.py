"""The app of bench/jobs.py's ``onebin serve`` drain: one job kind whose handler does nothing.

Served with ``--app bench.jobapp:app``; the benchmark fills the queue itself (jobs of
kind ``bench``) and counts what is left in the database.
"""

from __future__ import annotations

from onebin import App, Job

KIND = "bench"


async def noop(job: Job) -> None:
    return None


app = App(name="benchjobs", jobs=lambda context: {KIND: noop})
