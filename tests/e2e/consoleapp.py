"""An app whose job fails on demand, served by real processes in tests/e2e/test_console.py.

``POST /fragile`` enqueues one ``fragile`` job, tried once: while the file that
``CONSOLEAPP_BROKEN`` names exists it fails, with markup in its error as an attacker's
input could put there, and is left dead at once; once the file is gone it succeeds.
So a test makes a dead job without waiting out retries, and a retry that leaves the
dead list for good.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.routing import Route

from onebin import App, Context, Job, JsonResponse

KIND = "fragile"
ERROR = 'the upstream said <img src=x id=job-xss onerror="document.title=1"> and gave up'


def broken() -> bool:
    return Path(os.environ["CONSOLEAPP_BROKEN"]).exists()


def routes(context: Context) -> list[Route]:
    async def enqueue(request: Request) -> JsonResponse:
        job_id = await context.db.write(
            lambda conn: context.jobs.enqueue(conn, KIND, max_attempts=1)
        )
        return JsonResponse({"id": job_id}, 201)

    return [Route("/fragile", enqueue, methods=["POST"])]


async def fragile(job: Job) -> None:
    if broken():
        raise RuntimeError(ERROR)


app = App(name="consoleapp", routes=routes, jobs=lambda context: {KIND: fragile})
