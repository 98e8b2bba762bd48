"""onebin's own jobs: the handlers and periodic jobs the library registers itself.

A component of onebin that needs background work (pruning the queue, delivering
webhooks) adds a function of the ``Context`` to ``LIBRARY_JOBS`` returning its
``JobSet``; every runner merges them with the app's. Their kinds start with
``onebin.``, which an app may not use, so neither can shadow the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onebin.jobs.queue import Job, JobQueue
from onebin.jobs.runner import Handler
from onebin.jobs.schedule import Periodic

if TYPE_CHECKING:
    from onebin.app import Context

LIBRARY_PREFIX = "onebin."
PRUNE_JOBS = "onebin.prune-jobs"
PRUNE_EVENTS = "onebin.prune-events"
# Done and cancelled jobs are kept this long for `onebin jobs list/show`; dead ones
# are kept until someone retries or looks at them (they need a person).
KEEP_FINISHED = 7 * 24 * 3600.0
PRUNE_EVERY = 3600.0
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class JobSet:
    """Handlers by kind, and the periodic jobs among them, of one component."""

    handlers: Mapping[str, Handler] = field(default_factory=dict)
    periodic: Sequence[Periodic] = ()


def pruning(queue: JobQueue) -> JobSet:
    """Deletes finished jobs older than ``KEEP_FINISHED``, hourly, a batch per write."""

    async def prune(job: Job) -> None:
        before = queue.clock() - KEEP_FINISHED
        while await queue.prune(before, limit=PRUNE_BATCH) == PRUNE_BATCH:
            pass

    return JobSet({PRUNE_JOBS: prune}, (Periodic(PRUNE_JOBS, every=PRUNE_EVERY),))


def _pruning(context: Context) -> JobSet:
    return pruning(context.jobs)


def _webhooks(context: Context) -> JobSet:
    # Imported here: onebin.webhooks.delivery imports this module for JobSet.
    from onebin.webhooks.delivery import webhook_jobs

    return webhook_jobs(context)


def _event_pruning(context: Context) -> JobSet:
    """Deletes events older than ``--events-keep``, hourly, a batch per write."""
    log, keep = context.events.log, context.settings.events_keep

    async def prune(job: Job) -> None:
        while await log.db.write(lambda conn: log.prune(conn, keep, PRUNE_BATCH)) == PRUNE_BATCH:
            pass

    return JobSet({PRUNE_EVENTS: prune}, (Periodic(PRUNE_EVENTS, every=PRUNE_EVERY),))


def _embedding(context: Context) -> JobSet:
    """Embeds the rows of semantic collections that writes marked (``onebin.semantic``):
    one collection's slot of writes, or every collection at each periodic sweep."""
    from onebin.semantic.indexer import EMBED_KIND, SWEEP

    async def embed(job: Job) -> None:
        name = job.payload.get("collection")
        if name is None:  # the periodic sweep
            for search in context.semantic.values():
                await search.indexer.drain()
            return
        search = context.semantic.get(name)
        if search is not None:  # else a collection an older version of the app had
            await search.indexer.follow(float(job.payload.get("until", 0)))

    return JobSet({EMBED_KIND: embed}, (Periodic(EMBED_KIND, every=SWEEP),))


# Each component's jobs, by a function of the process's Context. Add yours here.
LIBRARY_JOBS: list[Callable[[Context], JobSet]] = [
    _pruning,
    _event_pruning,
    _webhooks,
    _embedding,
]
