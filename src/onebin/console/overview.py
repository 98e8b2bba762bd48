"""The overview: one dict of what an operator checks first, for the console and ``onebin status``.

Versions, the serving processes, health (the ``/readyz`` report), the database's
size, certificates, the job queue, webhooks, backups and semantic search. The console's
``/_onebin/api/overview`` answers it from a running server; ``onebin status``
builds it from a data directory or database URL alone, without the process
section (there is none), its health checks run there and then.

Each section is made by a small function; the ones that only reshape what was
read are pure (and tested as such), the reads sit in ``overview``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onebin.app import App
from onebin.config import Settings
from onebin.console.backups import BackupFile, list_backups
from onebin.console.host import Host
from onebin.health import Readiness
from onebin.jobs.queue import Backlog, JobQueue
from onebin.store.database import Connection, Engine
from onebin.store.tokens import TokenRecord, TokenStore
from onebin.versions import versions
from onebin.webhooks.store import WebhookStore

if TYPE_CHECKING:
    from onebin.tls.status import DomainStatus


@dataclass(frozen=True)
class Sources:
    """Where an overview's facts come from. ``host`` is the running server's
    processes; None for ``onebin status``, which runs beside (or without) one."""

    settings: Settings
    app: App
    db: Engine
    readiness: Readiness
    jobs: JobQueue
    host: Host | None = None


def standalone(settings: Settings, app: App, db: Engine) -> Sources:
    """The sources of ``onebin status``: its own checks of the database and disk, no
    processes (it reads the data directory or database, with or without a server)."""
    jobs = JobQueue(db)
    disk = existing_ancestor(settings.data_dir)
    return Sources(settings, app, db, Readiness(db, disk, settings.min_free_disk, jobs), jobs)


def existing_ancestor(path: Path) -> Path:
    """``path``, or its nearest existing parent: where a server would make it.

    With PostgreSQL, ``onebin status`` may run where no server has made the data
    directory yet; the free space it would have is its parent's.
    """
    absolute = path.absolute()
    return next((p for p in (absolute, *absolute.parents) if p.is_dir()), absolute)


def database_section(
    engine: str, location: str, size: int | None, wal: int | None
) -> dict[str, Any]:
    return {"engine": engine, "location": location, "size_bytes": size, "wal_bytes": wal}


def file_size(path: Path) -> int | None:
    """The size of ``path``; 0 when it is absent (a WAL folded back in), None if unreadable."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
    except OSError:
        return None


def _postgres_size(conn: Connection) -> int:
    return int(
        conn.execute("SELECT pg_database_size(current_database()) AS size").fetchone()["size"]
    )


async def database(settings: Settings, db: Engine) -> dict[str, Any]:
    """Engine, where, and size: the SQLite file and its WAL, or PostgreSQL's own count."""
    if db.engine == "postgresql":
        size = await db.read(_postgres_size)
        return database_section(db.engine, settings.database_location, size, None)
    path = settings.database_path
    wal = path.with_name(path.name + "-wal")
    return database_section(db.engine, settings.database_location, file_size(path), file_size(wal))


def certificates_section(entries: list[DomainStatus]) -> list[dict[str, Any]]:
    """What ``onebin tls status`` reports, one object per domain. Pure."""
    return [
        {
            "domain": entry.domain,
            "issuer": entry.certificate.issuer if entry.certificate else None,
            "not_after": (
                entry.certificate.not_after.isoformat(timespec="seconds")
                if entry.certificate
                else None
            ),
            "next_renewal": entry.upkeep.renew_at if entry.managed else None,
            "last_error": entry.upkeep.last_error,
        }
        for entry in entries
    ]


def tokens_section(records: list[TokenRecord]) -> dict[str, int]:
    """How many tokens work now, and how many of those are admin tokens. Pure."""
    active = [record for record in records if record.revoked_at is None]
    return {"active": len(active), "admin": sum(record.admin for record in active)}


def jobs_section(counts: dict[str, int], backlog: Backlog) -> dict[str, Any]:
    return {"counts": counts, "oldest_due_seconds": round(backlog.oldest_age, 3)}


def backups_section(
    settings: Settings, files: list[BackupFile], *, supported: bool
) -> dict[str, Any]:
    """The backups' summary; ``files`` newest first. Pure."""
    return {
        "supported": supported,
        "every_seconds": settings.backup_every if supported else None,
        "count": len(files),
        "last": files[0].as_json() if files else None,
    }


def backups_supported(settings: Settings) -> bool:
    """Backups are copies of the SQLite file; PostgreSQL has its own tools."""
    return settings.database_url is None


async def overview(sources: Sources) -> dict[str, Any]:
    """The whole overview (see docs: the console's ``/_onebin/api/overview``)."""
    settings, db = sources.settings, sources.db
    supported = backups_supported(settings)
    certificates: list[DomainStatus] = []
    if settings.acme_enabled or settings.tls_cert is not None:
        # Imported only with HTTPS on, where the server has loaded the ACME stack
        # already: importing it takes long enough to stall the event loop.
        from onebin.tls.status import tls_status

        certificates = await asyncio.to_thread(tls_status, settings, db=db)
    files = list_backups(settings.backup_dir) if supported else []
    return {
        "versions": versions(sources.app),
        "process": (sources.host.process(time.monotonic()) if sources.host is not None else None),
        "health": await sources.readiness.report(),
        "database": await database(settings, db),
        "certificates": certificates_section(certificates),
        "jobs": jobs_section(await sources.jobs.counts(), await sources.jobs.backlog()),
        "tokens": tokens_section(await TokenStore(db).list_async()),
        "webhooks": {"count": len(await WebhookStore(db).list_async())},
        "backups": backups_section(settings, files, supported=supported),
        "search": await search_section(sources),
    }


async def search_section(sources: Sources) -> dict[str, Any]:
    """Each semantic collection's embedded and waiting rows, and the model's id."""
    if not sources.app.semantic:
        return {"model": None, "collections": {}}
    from onebin.semantic.indexer import Indexer
    from onebin.semantic.model import MODEL_ID

    indexers = [Indexer(semantic, sources.db, sources.jobs) for semantic in sources.app.semantic]
    counts = await sources.db.read(
        lambda conn: {indexer.name: indexer.counts(conn) for indexer in indexers}
    )
    return {"model": MODEL_ID, "collections": counts}
