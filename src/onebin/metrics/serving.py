"""Metrics in one serving process: turned on once, before it serves (``--metrics``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from onebin.metrics import install
from onebin.metrics.prometheus import PrometheusRecorder, use_worker_files
from onebin.server.access import Observer
from onebin.server.connections import ConnectionRegistry
from onebin.store.database import Engine


class Sampler:
    """Copies the process's gauges into its metrics file while it serves (a ``Service``)."""

    def __init__(self, recorder: PrometheusRecorder, open_connections: Callable[[], int]) -> None:
        self.recorder = recorder
        self.open_connections = open_connections
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self.recorder.sample(self.open_connections)
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def worker_metrics(
    db: Engine, registry: ConnectionRegistry, number: int | None, observers: list[Observer]
) -> Sampler:
    """Count this worker's requests (one more of ``observers``), refusals and
    database calls into worker ``number``'s files; the sampler to run beside it."""
    use_worker_files(number)
    recorder = PrometheusRecorder()
    install(recorder)
    recorder.time_database(db)
    observers.append(recorder.observe)
    return Sampler(recorder, lambda: registry.admitted)
