"""A small app with jobs, served by real processes in tests/jobs/test_serving.py.

``POST /enqueue?kind=K&count=N`` enqueues N jobs of kind K in one write. The
handlers leave traces in the directory ``JOBAPP_DIR`` names:

- ``block``: writes ``started-ID-ATTEMPT``, then waits for a file ``release``,
  then writes ``done-ID-ATTEMPT``: a job a test can kill its process in the middle of;
- ``count``: appends ``ID ATTEMPT PID`` to ``ran``, one line per run.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.requests import Request
from starlette.routing import Route

from onebin import App, Context, Job, JsonResponse


def traces() -> Path:
    return Path(os.environ["JOBAPP_DIR"])


def routes(context: Context) -> list[Route]:
    async def enqueue(request: Request) -> JsonResponse:
        kind = request.query_params["kind"]
        count = int(request.query_params.get("count", "1"))
        ids = await context.db.write(
            lambda conn: [context.jobs.enqueue(conn, kind) for _ in range(count)]
        )
        return JsonResponse({"ids": ids}, 201)

    return [Route("/enqueue", enqueue, methods=["POST"])]


async def block(job: Job) -> None:
    (traces() / f"started-{job.id}-{job.attempt}").touch()
    while not (traces() / "release").exists():
        await asyncio.sleep(0.02)
    (traces() / f"done-{job.id}-{job.attempt}").touch()


async def count(job: Job) -> None:
    with (traces() / "ran").open("a") as ran:
        ran.write(f"{job.id} {job.attempt} {os.getpid()}\n")


app = App(name="jobapp", routes=routes, jobs=lambda context: {"block": block, "count": count})
