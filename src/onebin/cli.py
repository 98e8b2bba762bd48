"""The ``onebin`` command line: the only place that prints for humans or exits.

Library code raises ``OnebinError`` subclasses; here each becomes one line on
stderr and an exit status (2 for bad settings or usage, 1 for anything else).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from onebin import __version__
from onebin.app import AppSpec, open_database
from onebin.config import SETTINGS, Option, Settings, add_arguments, build_settings
from onebin.errors import ConfigError, OnebinError
from onebin.store.tokens import TokenStore

EXIT_ERROR = 1
EXIT_USAGE = 2


def _options(*names: str) -> tuple[Option, ...]:
    return tuple(option for option in SETTINGS if option.name in names)


DATA_DIR_ONLY = _options("data_dir")


def _default_spec() -> AppSpec:
    from onebin.items import spec

    return spec


def cmd_serve(settings: Settings, args: argparse.Namespace, spec: AppSpec) -> int:
    from onebin.server import serve

    serve(settings, spec)
    return 0


def cmd_token_create(settings: Settings, args: argparse.Namespace, spec: AppSpec) -> int:
    db = open_database(settings, spec)
    try:
        token, record = TokenStore(db).create(args.name)
    finally:
        db.close()
    print(token)
    print(
        f"token {record.name!r} created; it is shown only this once. "
        "Send it as: Authorization: Bearer <token>",
        file=sys.stderr,
    )
    return 0


def cmd_token_list(settings: Settings, args: argparse.Namespace, spec: AppSpec) -> int:
    db = open_database(settings, spec)
    try:
        records = TokenStore(db).list()
    finally:
        db.close()
    print(f"{'NAME':<24} {'CREATED':<26} STATUS")
    for record in records:
        status = f"revoked {record.revoked_at}" if record.revoked_at else "active"
        print(f"{record.name:<24} {record.created_at:<26} {status}")
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace, spec: AppSpec) -> int:
    db = open_database(settings, spec)
    try:
        record = TokenStore(db).revoke(args.name)
    finally:
        db.close()
    print(f"token {record.name!r} revoked at {record.revoked_at}", file=sys.stderr)
    return 0


Command = Callable[[Settings, argparse.Namespace, AppSpec], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onebin",
        description="A whole web service in one file: API, embedded database, frontend, HTTPS.",
    )
    parser.add_argument("--version", action="version", version=f"onebin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the server. Every setting is a flag or an ONEBIN_* variable; a flag wins.",
    )
    add_arguments(serve)
    serve.set_defaults(handler=cmd_serve, options=SETTINGS)

    token = commands.add_parser("token", help="manage write tokens")
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("--name", help="a label to find the token by later")
    add_arguments(create, DATA_DIR_ONLY)
    create.set_defaults(handler=cmd_token_create, options=DATA_DIR_ONLY)
    listing = token_commands.add_parser("list", help="list tokens (never their secrets)")
    add_arguments(listing, DATA_DIR_ONLY)
    listing.set_defaults(handler=cmd_token_list, options=DATA_DIR_ONLY)
    revoke = token_commands.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name", help="the token's name, as shown by 'token list'")
    add_arguments(revoke, DATA_DIR_ONLY)
    revoke.set_defaults(handler=cmd_token_revoke, options=DATA_DIR_ONLY)
    return parser


def main(argv: Sequence[str] | None = None, spec: AppSpec | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = build_settings(args, options=args.options)
    except ConfigError as exc:
        print(f"onebin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s: %(name)s: %(message)s"
    )
    handler: Command = args.handler
    try:
        return handler(settings, args, spec or _default_spec())
    except OnebinError as exc:
        print(f"onebin: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
