"""The ``onebin`` command line: the only place that prints for humans or exits.

Library code raises ``OnebinError`` subclasses; here each becomes one line on
stderr and an exit status (2 for bad settings or usage, 1 for anything else).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from onebin import logs
from onebin.app import DEFAULT_APP, App, load_app
from onebin.build import TARGETS
from onebin.compose import app_migrations, open_database
from onebin.config import (
    SETTINGS,
    Option,
    Settings,
    add_arguments,
    build_settings,
    unknown_variables,
)
from onebin.errors import AppError, BuildError, ConfigError, OnebinError, StoreError
from onebin.jobs.cli import add_jobs_commands
from onebin.semantic.cli import add_reindex_command
from onebin.store.backup import backup
from onebin.store.database import Engine
from onebin.store.integrity import run_check
from onebin.store.lock import DataDirLock
from onebin.store.migrations import check_file
from onebin.store.restore import restore
from onebin.store.tokens import TokenStore, carry_revocations
from onebin.suggest import SuggestingParser
from onebin.values import database_url
from onebin.versions import version_line, versions
from onebin.webhooks.cli import add_webhook_commands

EXIT_ERROR = 1
EXIT_USAGE = 2


def _options(*names: str) -> tuple[Option, ...]:
    return tuple(option for option in SETTINGS if option.name in names)


# The commands that work on a data directory: which app's database it holds matters
# (its migrations run on open), so each takes --app; and --database-url, so that one
# set in the environment is never silently ignored.
DATA_DIR_ONLY = _options("app", "data_dir", "database_url")
APP_ONLY = _options("app")
MIGRATE_OPTIONS = _options("app", "data_dir")


def cmd_serve(settings: Settings, args: argparse.Namespace, app: App) -> int:
    from onebin.server import serve

    return serve(settings, app)


@contextmanager
def database(settings: Settings, app: App, *, existing: bool = False) -> Iterator[Engine]:
    """The database, opened as a server opens it, beside any server that is running.

    ``existing``: for commands that only read or change what is in it (``token
    list``, ``jobs``, ``webhook``), a SQLite file that is not there is refused
    instead of created (``existing_database``).
    """
    if existing:
        existing_database(settings)
    if settings.database_url is not None:  # PostgreSQL: no file of ours to guard
        db = open_database(settings, app)
        try:
            yield db
        finally:
            db.close()
        return
    with DataDirLock(settings.data_dir, exclusive=False) as lock:
        db = open_database(settings, app, alone=lock.alone)
        lock.share()
        try:
            yield db
        finally:
            db.close()


def cmd_token_create(settings: Settings, args: argparse.Namespace, app: App) -> int:
    existed = settings.data_dir.is_dir() or settings.database_url is not None
    with database(settings, app) as db:
        token, record = TokenStore(db).create(args.name, replace=args.replace, admin=args.admin)
    print(token)
    if not existed:
        print(
            f"onebin: warning: {settings.data_dir} did not exist and was created; a server "
            "must use the same --data-dir (or ONEBIN_DATA_DIR) to accept this token",
            file=sys.stderr,
        )
    kind = "admin token" if record.admin else "token"
    print(
        f"{kind} {record.name!r} created in {settings.database_location}; it is shown "
        "only this once. Send it as: Authorization: Bearer <token>",
        file=sys.stderr,
    )
    return 0


def existing_database(settings: Settings) -> None:
    """Refuse to create a database just to list or revoke tokens that cannot be in it.

    A PostgreSQL database is the operator's to create; onebin only migrates it.
    """
    if settings.database_url is None and not settings.database_path.is_file():
        raise StoreError(
            f"no database at {settings.database_path}: wrong --data-dir? "
            "(a token made elsewhere lives in that data directory)"
        )


def cmd_token_list(settings: Settings, args: argparse.Namespace, app: App) -> int:
    with database(settings, app, existing=True) as db:
        records = TokenStore(db).list()
    print(f"{'NAME':<24} {'KIND':<6} {'CREATED':<26} STATUS")
    for record in records:
        status = f"revoked {record.revoked_at}" if record.revoked_at else "active"
        kind = "admin" if record.admin else "write"
        print(f"{record.name:<24} {kind:<6} {record.created_at:<26} {status}")
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace, app: App) -> int:
    with database(settings, app, existing=True) as db:
        record = TokenStore(db).revoke(args.name)
    print(f"token {record.name!r} revoked at {record.revoked_at}", file=sys.stderr)
    return 0


def cmd_build(settings: Settings, args: argparse.Namespace, app: App) -> int:
    try:
        from onebin.build.pack import build
    except ImportError as exc:
        raise BuildError(f"onebin build needs the build extra ({exc})") from None
    from onebin.build.report import format_report

    if args.portable:
        return _build_portable(args, app)
    for artifact in build(
        app,
        args.app_reference,
        Path(args.dist),
        name=args.name,
        targets=args.target or TARGETS,
        environ=os.environ,
    ):
        print(format_report(f"{artifact.path} ({artifact.kind})", artifact.report))
    return 0


def _build_portable(args: argparse.Namespace, app: App) -> int:
    from onebin.build.portable.build import build_portable, default_cache

    if args.target:
        raise BuildError("--portable builds the executable only: leave out --target")
    artifact = build_portable(
        app,
        args.app_reference,
        Path(args.dist),
        name=args.name,
        cache=default_cache(os.environ),
        environ=os.environ,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(artifact.report)
    needs = ".".join(map(str, artifact.glibc)) if artifact.glibc else "any"
    print(f"  needs glibc {needs} or newer (checked {artifact.elf_files} ELF files)")
    print(f"  {artifact.version}")
    return 0


def cmd_new(settings: Settings, args: argparse.Namespace, app: App | None) -> int:
    from onebin.new import create_project, default_requirement, next_steps

    project = create_project(
        args.name, Path(args.dir or args.name), args.onebin or default_requirement()
    )
    print(next_steps(project, args.name))
    return 0


def sqlite_only(settings: Settings, command: str, instead: str) -> None:
    """Refuse a command that works on the SQLite file when the run uses PostgreSQL."""
    if settings.database_url is not None:
        raise ConfigError(
            f"'onebin {command}' works on the SQLite file; with --database-url "
            f"(PostgreSQL) use {instead}"
        )


def cmd_backup(settings: Settings, args: argparse.Namespace, app: App) -> int:
    sqlite_only(settings, "backup", "pg_dump (e.g. pg_dump -Fc -f onebin.dump URL)")
    with DataDirLock(settings.data_dir, exclusive=False):
        size = backup(settings.database_path, Path(args.path), overwrite=args.force)
    print(f"backed up {settings.database_path} to {args.path} ({size:,} bytes)", file=sys.stderr)
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace, app: App) -> int:
    sqlite_only(settings, "check", "pg_amcheck")
    path = settings.database_path
    if not path.is_file():
        print(f"onebin: no database at {path}", file=sys.stderr)
        return EXIT_ERROR
    with DataDirLock(settings.data_dir, exclusive=False):
        problems = run_check(path, "integrity_check")
    if not problems:
        print(f"{path}: ok (integrity_check found no problem)")
        return 0
    print(f"{path}: DAMAGED")
    for problem in problems:
        print(f"  {problem}")
    print(
        "restore a backup with 'onebin restore PATH' (the damaged file is kept aside)",
        file=sys.stderr,
    )
    return EXIT_ERROR


def cmd_restore(settings: Settings, args: argparse.Namespace, app: App) -> int:
    sqlite_only(settings, "restore", "pg_restore (e.g. pg_restore --clean -d URL onebin.dump)")
    database = settings.database_path
    carried: list[int | None] = []

    def checked(incoming: Path) -> None:
        check_file(incoming, app_migrations(app))  # another app's, or a newer program's
        carried.append(carry_revocations(database, incoming) if database.exists() else 0)

    kept = restore(Path(args.path), database, settings.data_dir, before_swap=checked)
    print(f"restored {args.path} into {database}", file=sys.stderr)
    if kept is not None:
        print(f"the previous database is kept as {kept}", file=sys.stderr)
    if carried and carried[0] is None:
        print(
            "the previous database could not be read: any token revoked after this backup "
            "was taken is valid again; revoke it again with 'onebin token revoke'",
            file=sys.stderr,
        )
    elif carried and carried[0]:
        print(f"{carried[0]} token(s) revoked since the backup stay revoked", file=sys.stderr)
    return 0


def cmd_migrate_data(settings: Settings, args: argparse.Namespace, app: App) -> int:
    from onebin.store import transfer

    if (args.to is None) == (args.to_data_dir is None):
        raise ConfigError("give --to URL (from --data-dir), or --from URL --to-data-dir DIR")
    url = args.to if args.to is not None else args.from_url
    try:
        url = database_url(url)
    except ValueError as exc:
        raise ConfigError(f"invalid {'--to' if args.to else '--from'}: {exc}") from None
    if args.to is not None:
        existing_database(settings)
        with DataDirLock(settings.data_dir, exclusive=True):  # no server may write meanwhile
            open_database(settings, app, alone=True).close()  # migrated as a server would
            report = transfer.copy_to_postgresql(
                settings.database_path,
                url,
                app_migrations(app),
                notes=transfer.left_behind(settings.data_dir),
            )
    else:
        target = replace(settings, data_dir=Path(args.to_data_dir))
        with DataDirLock(target.data_dir, exclusive=True):
            transfer.check_empty_dir(target.data_dir)
            report = transfer.copy_to_sqlite(url, target.database_path, app_migrations(app))
    print(transfer.format_report(report))
    return 0


def cmd_tls_status(settings: Settings, args: argparse.Namespace, app: App) -> int:
    from onebin.tls.status import tls_status

    entries = tls_status(settings, app)
    if not entries:
        print("onebin: HTTPS is off; give --domain or --tls-cert as for 'serve'", file=sys.stderr)
        return EXIT_USAGE
    for entry in entries:
        certificate, upkeep = entry.certificate, entry.upkeep
        if entry.managed:
            renewal = upkeep.renew_at or "as soon as the certificate is obtained"
        else:
            renewal = "never (certificate from --tls-cert)"
        error = "none"
        if upkeep.last_error:
            error = f"{upkeep.last_error_at} {upkeep.last_error}"
            if upkeep.next_attempt:
                error += f" (next attempt {upkeep.next_attempt})"
        print(entry.domain)
        print(f"  issuer:       {certificate.issuer if certificate else 'no certificate yet'}")
        print(f"  serial:       {certificate.serial if certificate else '-'}")
        print(f"  not after:    {certificate.not_after.isoformat() if certificate else '-'}")
        print(f"  next renewal: {renewal}")
        print(f"  last error:   {error}")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace, app: App) -> int:
    """The console's overview in the terminal; exit status 1 when not ready."""
    import asyncio
    import json

    from onebin.console.overview import overview, standalone
    from onebin.console.render import render

    if settings.database_url is None and not settings.database_path.is_file():
        raise StoreError(
            f"no database at {settings.database_path}: wrong --data-dir? (give the "
            "server's --data-dir, or its --database-url)"
        )
    with database(settings, app, existing=True) as db:
        facts = asyncio.run(overview(standalone(settings, app, db)))
    print(json.dumps(facts, indent=2) if args.json else render(facts))
    return 0 if facts["health"]["status"] == "ready" else EXIT_ERROR


Command = Callable[[Settings, argparse.Namespace, Any], int]


class ShowVersion(argparse.Action):
    """``--version``: the app's name and version, then onebin's and its libraries'.

    The app is the one ``ONEBIN_APP`` or the entry point names (``--app`` belongs to
    the commands, after this flag), imported only when the flag is given.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, default_app: str) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the versions and exit")
        self.default_app = default_app

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        try:
            app = load_app(os.environ.get("ONEBIN_APP") or self.default_app)
        except AppError as exc:
            parser.exit(EXIT_USAGE, f"onebin: {exc}\n")
        print(version_line(versions(app)))
        parser.exit(0)


def program_name(argv0: str) -> str:
    """What to call this program in usage lines: the executable's own name.

    A packed app is ``guestbook``, not ``onebin``; ``python -m pkg`` names the package.
    """
    path = Path(argv0)
    return path.parent.name if path.name == "__main__.py" else path.name or "onebin"


def build_parser(default_app: str = DEFAULT_APP, prog: str = "onebin") -> argparse.ArgumentParser:
    # --app's default, as --help shows it, is this program's own app.
    arguments = partial(add_arguments, shown_defaults={"app": default_app})

    parser = SuggestingParser(
        prog=prog,
        description="A whole web service in one file: API, embedded database, frontend, HTTPS.",
    )
    parser.add_argument("--version", action=ShowVersion, default_app=default_app)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the server. Every setting is a flag or an ONEBIN_* variable; a flag wins.",
    )
    arguments(serve)
    serve.set_defaults(handler=cmd_serve, options=SETTINGS)

    token = commands.add_parser("token", help="manage write tokens")
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("--name", help="a label to find the token by later")
    create.add_argument(
        "--replace",
        action="store_true",
        help="revoke the active token of this name first (so a script can rerun)",
    )
    create.add_argument(
        "--admin",
        action="store_true",
        help="an admin token: it also opens the console (/_onebin/) and /metrics",
    )
    arguments(create, DATA_DIR_ONLY)
    create.set_defaults(handler=cmd_token_create, options=DATA_DIR_ONLY)
    listing = token_commands.add_parser("list", help="list tokens (never their secrets)")
    arguments(listing, DATA_DIR_ONLY)
    listing.set_defaults(handler=cmd_token_list, options=DATA_DIR_ONLY)
    revoke = token_commands.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name", help="the token's name, as shown by 'token list'")
    arguments(revoke, DATA_DIR_ONLY)
    revoke.set_defaults(handler=cmd_token_revoke, options=DATA_DIR_ONLY)

    add_jobs_commands(commands, arguments, DATA_DIR_ONLY)
    add_webhook_commands(commands, arguments, DATA_DIR_ONLY)
    add_reindex_command(commands, arguments, DATA_DIR_ONLY)

    new = commands.add_parser(
        "new",
        help="create a project for your own app, ready to test and pack",
        description="Write a working project: a package NAME with NAME/app.py exporting "
        "'app' (one table, JSON routes, a plain HTML page), its tests, a README and a "
        "Makefile whose 'make dist' packs it into dist/NAME.",
    )
    new.add_argument("name", help="the app's name: a lower-case Python identifier")
    new.add_argument("--dir", help="where to write the project [default ./NAME]")
    new.add_argument(
        "--onebin",
        metavar="REQUIREMENT",
        help="how the project's virtualenv gets onebin (a wheel, a directory or a pip "
        "requirement) [default: where this onebin was installed from]",
    )
    new.set_defaults(handler=cmd_new, options=(), needs_app=False)

    backup_parser = commands.add_parser(
        "backup", help="copy the database consistently, even while the server runs"
    )
    backup_parser.add_argument("path", help="where to write the copy")
    backup_parser.add_argument("--force", action="store_true", help="replace an existing file")
    arguments(backup_parser, DATA_DIR_ONLY)
    backup_parser.set_defaults(handler=cmd_backup, options=DATA_DIR_ONLY)
    restore_parser = commands.add_parser(
        "restore", help="replace the database with a backup (the server must be stopped)"
    )
    restore_parser.add_argument("path", help="a file made by 'onebin backup'")
    arguments(restore_parser, DATA_DIR_ONLY)
    restore_parser.set_defaults(handler=cmd_restore, options=DATA_DIR_ONLY)
    check = commands.add_parser(
        "check",
        help="check the whole database file for damage (PRAGMA integrity_check)",
        description="Read every page of the database and report damage; exit 1 if any. "
        "Safe while the server runs.",
    )
    arguments(check, DATA_DIR_ONLY)
    check.set_defaults(handler=cmd_check, options=DATA_DIR_ONLY)

    migrate = commands.add_parser(
        "migrate-data",
        help="copy the data between SQLite and an empty PostgreSQL database, verified",
        description="Copy every table (items, tokens, the app's own) from the SQLite "
        "database in --data-dir into an empty PostgreSQL database (--to), or from "
        "PostgreSQL (--from) into a new data directory (--to-data-dir); each table's row "
        "count and checksum are compared before the copy commits. No server may run on "
        "the data directory meanwhile.",
    )
    direction = migrate.add_mutually_exclusive_group(required=True)
    direction.add_argument("--to", metavar="URL", help="the empty PostgreSQL database to fill")
    direction.add_argument("--from", dest="from_url", metavar="URL", help="the database to copy")
    migrate.add_argument("--to-data-dir", metavar="DIR", help="with --from: a new data directory")
    arguments(migrate, MIGRATE_OPTIONS)
    migrate.set_defaults(handler=cmd_migrate_data, options=MIGRATE_OPTIONS)

    tls = commands.add_parser("tls", help="inspect HTTPS certificates")
    tls_commands = tls.add_subparsers(dest="tls_command", metavar="ACTION", required=True)
    status = tls_commands.add_parser(
        "status",
        help="per domain: issuer, serial, expiry, next renewal and last error",
        description="Report the certificates in the data directory for the settings "
        "'serve' would use (flags or ONEBIN_* variables). Never contacts the CA.",
    )
    # The same settings as 'serve', so the same flags or ONEBIN_* environment work.
    arguments(status, SETTINGS)
    status.set_defaults(handler=cmd_tls_status, options=SETTINGS)

    status_parser = commands.add_parser(
        "status",
        help="health, versions, database, certificates, jobs and backups at a glance",
        description="Print what the admin console's overview shows, read from the data "
        "directory (or --database-url), with or without a server running: versions, "
        "health (read, write and disk checks run now), database size, certificates, "
        "jobs, webhooks and backups. Takes the settings 'serve' would use (flags or "
        "ONEBIN_* variables). Exit status 1 when not ready.",
    )
    status_parser.add_argument("--json", action="store_true", help="print JSON")
    arguments(status_parser, SETTINGS)
    status_parser.set_defaults(handler=cmd_status, options=SETTINGS)

    build = commands.add_parser(
        "build",
        help="pack the app into dist/NAME and dist/NAME.pyz",
        description="Pack the app (--app), onebin, their dependencies and the app's static "
        "files into one executable (dist/NAME) and one zipapp (dist/NAME.pyz); print their "
        "size reports.",
    )
    build.add_argument("--name", help="the artifacts' name [default: the app's name]")
    build.add_argument("--dist", default="dist", help="output directory [default dist]")
    build.add_argument(
        "--target",
        action="append",
        choices=TARGETS,
        help="build only this artifact (repeatable) [default both]",
    )
    build.add_argument(
        "--portable",
        action="store_true",
        help="build DIST/portable/NAME instead, which runs on glibc 2.28 or newer: "
        "needs root, debootstrap and about 6 minutes on 2 cores the first time",
    )
    arguments(build, APP_ONLY)
    build.set_defaults(handler=cmd_build, options=APP_ONLY)
    return parser


def _complaints(settings: Settings) -> Callable[[str], None]:
    """How the command line reports what stops it: one ``onebin: ...`` line, or with
    ``--log-format json`` one log object like every other line, so a log pipeline
    that parses each line as JSON is not broken by the one that matters most."""
    if settings.log_format != "json":
        return lambda message: print(f"onebin: {message}", file=sys.stderr)
    log = logging.getLogger("onebin")

    def logged(message: str) -> None:
        warning = message.startswith("warning: ")
        log.log(logging.WARNING if warning else logging.ERROR, message.removeprefix("warning: "))

    return logged


def main(argv: Sequence[str] | None = None, app: str | None = None) -> int:
    """Run the ``onebin`` command line; the exit status.

    ``app`` (``MODULE:ATTRIBUTE``) is the application served when neither ``--app``
    nor ``ONEBIN_APP`` names one: the entry point of a packed app passes its own.
    """
    default_app = app or DEFAULT_APP
    parser = build_parser(default_app, program_name(sys.argv[0]))
    args = parser.parse_args(argv)
    try:
        settings = build_settings(args, options=args.options)
    except ConfigError as exc:
        print(f"onebin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(settings)
    complain = _complaints(settings)
    for warning in unknown_variables(os.environ):
        complain(f"warning: {warning}")
    args.app_reference = settings.app or default_app
    chosen = None
    if getattr(args, "needs_app", True):
        try:
            chosen = load_app(args.app_reference)
        except AppError as exc:
            complain(str(exc))
            return EXIT_USAGE
    handler: Command = args.handler
    try:
        return handler(settings, args, chosen)
    except ConfigError as exc:
        complain(str(exc))
        return EXIT_USAGE
    except OnebinError as exc:
        complain(str(exc))
        return EXIT_ERROR
    except OSError as exc:  # what no layer below could name better: still one line
        complain(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
