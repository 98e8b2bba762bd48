"""``onebin jobs list/show/retry/cancel``: the job queue from the command line.

Part of the command line (it prints; ``onebin.cli`` turns errors into one line and
an exit status): an unknown id is ``NotFound`` and a job in the wrong state for the
action a ``StoreError``, both exit status 1 like a revoked token's name.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from onebin.app import App
from onebin.config import Option, Settings
from onebin.jobs.queue import STATES, JobQueue, JobRecord, decode_payload
from onebin.values import int_in, row_id

Arguments = Callable[[argparse.ArgumentParser, Sequence[Option]], None]


def moment(epoch: float | None) -> str:
    """An epoch time as UTC ISO 8601 to the second; ``-`` for none."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def as_json(record: JobRecord) -> dict[str, Any]:
    return {**asdict(record), "payload": decode_payload(record.payload)}


def _queue(settings: Settings, app: App, action: Callable[[JobQueue], Any]) -> Any:
    # Imported here: onebin.cli imports this module to register the commands.
    from onebin.cli import database

    with database(settings, app, existing=True) as db:
        return action(JobQueue(db))


def cmd_jobs_list(settings: Settings, args: argparse.Namespace, app: App) -> int:
    records: list[JobRecord] = _queue(
        settings, app, lambda jobs: jobs.list(state=args.state, limit=args.limit)
    )
    if args.json:
        print(json.dumps([as_json(record) for record in records], indent=2))
        return 0
    print(f"{'ID':>8} {'KIND':<24} {'STATE':<9} {'TRIES':>6} {'RUN AT':<25} LAST ERROR")
    for r in records:
        error = (r.last_error or "").replace("\n", " ")
        error = error if len(error) <= 60 else error[:57] + "..."
        tries = f"{r.attempts}/{r.max_attempts}"
        print(f"{r.id:>8} {r.kind:<24} {r.state:<9} {tries:>6} {moment(r.run_at):<25} {error}")
    return 0


def show(record: JobRecord) -> str:
    """Every field of a job, one per line; the payload as indented JSON."""
    lines = [
        f"id:              {record.id}",
        f"kind:            {record.kind}",
        f"state:           {record.state}",
        f"attempts:        {record.attempts} of {record.max_attempts}",
        f"run at:          {moment(record.run_at)}"
        + (" (lease expiry)" if record.state == "running" else ""),
        f"worker:          {record.worker or '-'}",
        f"idempotency key: {record.idempotency_key or '-'}",
        f"created at:      {moment(record.created_at)}",
        f"finished at:     {moment(record.finished_at)}",
        f"last error:      {record.last_error or '-'}",
        "payload:",
        json.dumps(decode_payload(record.payload), indent=2),
    ]
    return "\n".join(lines)


def cmd_jobs_show(settings: Settings, args: argparse.Namespace, app: App) -> int:
    record: JobRecord = _queue(settings, app, lambda jobs: jobs.get(args.id))
    print(json.dumps(as_json(record), indent=2) if args.json else show(record))
    return 0


def cmd_jobs_retry(settings: Settings, args: argparse.Namespace, app: App) -> int:
    record: JobRecord = _queue(settings, app, lambda jobs: jobs.retry(args.id))
    print(f"job {record.id} ({record.kind}) queued again, due now", flush=True)
    return 0


def cmd_jobs_cancel(settings: Settings, args: argparse.Namespace, app: App) -> int:
    record: JobRecord = _queue(settings, app, lambda jobs: jobs.cancel(args.id))
    print(f"job {record.id} ({record.kind}) cancelled", flush=True)
    return 0


def add_jobs_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    arguments: Arguments,
    options: Sequence[Option],
) -> None:
    """``jobs`` and its actions, each taking ``options`` (--app, --data-dir, --database-url)."""
    jobs = commands.add_parser("jobs", help="inspect and steer the background job queue")
    actions = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    job_id = {"type": row_id, "help": "the job's id, as 'jobs list' shows it"}

    listing = actions.add_parser("list", help="the newest jobs, one line each")
    listing.add_argument("--state", choices=STATES, help="only jobs in this state")
    listing.add_argument(
        "--limit", type=int_in(1, 10_000), default=50, help="at most this many [default 50]"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_jobs_list)

    shown = actions.add_parser("show", help="every field of one job, its payload and last error")
    shown.add_argument("id", **job_id)
    shown.add_argument("--json", action="store_true", help="print JSON")
    shown.set_defaults(handler=cmd_jobs_show)

    retry = actions.add_parser(
        "retry", help="queue a dead or cancelled job again, due now, its attempts reset"
    )
    retry.add_argument("id", **job_id)
    retry.set_defaults(handler=cmd_jobs_retry)

    cancel = actions.add_parser(
        "cancel", help="cancel a queued job (a running one cannot be cancelled)"
    )
    cancel.add_argument("id", **job_id)
    cancel.set_defaults(handler=cmd_jobs_cancel)

    for action in (listing, shown, retry, cancel):
        arguments(action, options)
        action.set_defaults(options=options)
