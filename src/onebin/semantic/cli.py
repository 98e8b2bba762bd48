"""``onebin reindex``: embed every row of the app's semantic collections again, now.

Servers keep vectors current on their own (a job after every change, and a new
model noticed at start), so this is for the rare case a person wants it done and
waited for: after a bulk load written straight into the database, or to check
that the whole collection embeds. It runs here, in this process, beside any
running server (the marks make the two agree on what is left to do), and prints
progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from onebin.app import App
from onebin.config import Option, Settings
from onebin.errors import ConfigError

Arguments = Callable[[argparse.ArgumentParser, Sequence[Option]], None]
# Progress lines at most this often.
PROGRESS_EVERY = 2.0


def cmd_reindex(settings: Settings, args: argparse.Namespace, app: App) -> int:
    # Imported here: onebin.cli imports this module to register the command.
    from onebin.cli import database
    from onebin.jobs.queue import JobQueue
    from onebin.semantic.indexer import Indexer

    if not app.semantic:
        raise ConfigError(f"app {app.name!r} has no semantic collections to reindex")
    with database(settings, app, existing=True) as db:
        for semantic in app.semantic:
            indexer = Indexer(semantic, db, JobQueue(db))
            marked = db.write_sync(indexer.mark_all)
            started = time.monotonic()
            shown = started

            def progress(done: int, name: str = semantic.name, total: int = marked) -> None:
                nonlocal shown
                now = time.monotonic()
                if now - shown >= PROGRESS_EVERY:
                    shown = now
                    print(f"{name}: {done:,} of about {total:,} rows embedded", file=sys.stderr)

            done = indexer.drain_sync(progress)
            seconds = time.monotonic() - started
            print(f"{semantic.name}: {done:,} rows embedded in {seconds:.1f} s")
    return 0


def add_reindex_command(
    commands: argparse._SubParsersAction, arguments: Arguments, options: Sequence[Option]
) -> None:
    reindex = commands.add_parser(
        "reindex",
        help="embed every row of the app's semantic collections again, now",
        description="Mark every row of the app's semantic collections (the items, for "
        "the items app) and embed them here, printing progress; safe while servers run. "
        "Servers do this on their own after every change and when a new model arrives; "
        "use it after writing rows straight into the database.",
    )
    arguments(reindex, options)
    reindex.set_defaults(handler=cmd_reindex, options=options)
