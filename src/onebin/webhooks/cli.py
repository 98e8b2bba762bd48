"""``onebin webhook add/list/remove``: the webhooks of a database from the command line.

Part of the command line (it prints; ``onebin.cli`` turns errors into one line and
an exit status): a bad URL or event pattern is a ``ConfigError`` (exit status 2,
like any bad option), an unknown id ``NotFound`` (exit status 1). A server that is
running sees a change at its next event: the fan-out reads the table every time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from onebin.app import App
from onebin.config import Option, Settings
from onebin.errors import ConfigError
from onebin.values import row_id
from onebin.webhooks.rules import check_url, parse_patterns
from onebin.webhooks.store import Webhook, WebhookStore

Arguments = Callable[[argparse.ArgumentParser, Sequence[Option]], None]


def _store(settings: Settings, app: App, action: Callable[[WebhookStore], Any]) -> Any:
    # Imported here: onebin.cli imports this module to register the commands.
    from onebin.cli import database

    with database(settings, app, existing=True) as db:
        return action(WebhookStore(db))


def cmd_webhook_add(settings: Settings, args: argparse.Namespace, app: App) -> int:
    try:  # checked before the database is opened: a typo costs nothing
        url = check_url(args.url)
        patterns = parse_patterns(args.events or ())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    webhook, secret = _store(settings, app, lambda store: store.add(url, patterns))
    if args.json:
        print(json.dumps({**webhook.as_json(), "secret": secret}, indent=2))
    else:
        print(f"id:     {webhook.id}")
        print(f"url:    {webhook.url}")
        print(f"events: {','.join(webhook.events)}")
        print(f"secret: {secret}")
    print(
        f"webhook {webhook.id} added; its secret is shown once; store it now (receivers "
        "check Onebin-Signature with it; 'webhook list' never shows it)",
        file=sys.stderr,
    )
    return 0


def cmd_webhook_list(settings: Settings, args: argparse.Namespace, app: App) -> int:
    webhooks: list[Webhook] = _store(settings, app, lambda store: store.list())
    if args.json:
        print(json.dumps([webhook.as_json() for webhook in webhooks], indent=2))
        return 0
    print(f"{'ID':>6} {'EVENTS':<24} {'CREATED':<25} URL")
    for webhook in webhooks:
        events = ",".join(webhook.events)
        print(f"{webhook.id:>6} {events:<24} {webhook.created_at:<25} {webhook.url}")
    return 0


def cmd_webhook_remove(settings: Settings, args: argparse.Namespace, app: App) -> int:
    webhook: Webhook = _store(settings, app, lambda store: store.remove(args.id))
    print(f"webhook {webhook.id} removed ({webhook.url})", flush=True)
    return 0


def add_webhook_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    arguments: Arguments,
    options: Sequence[Option],
) -> None:
    """``webhook`` and its actions, each taking ``options`` (--app, --data-dir, --database-url)."""
    webhook = commands.add_parser(
        "webhook", help="send every change, signed, to URLs of your choice"
    )
    actions = webhook.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="add a webhook and print its signing secret once",
        description="POST every event whose type matches --events to URL, signed with a "
        "new secret that is printed once.",
    )
    add.add_argument("url", metavar="URL", help="where to POST events: an http(s) URL")
    add.add_argument(
        "--events",
        action="append",
        metavar="PATTERNS",
        help="event types to send, * matching anything (item.*, item.deleted); "
        "repeat or separate with commas [default *: every event]",
    )
    add.add_argument("--json", action="store_true", help="print JSON (with the secret)")
    add.set_defaults(handler=cmd_webhook_add)

    listing = actions.add_parser("list", help="the webhooks, one line each (never the secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_webhook_list)

    remove = actions.add_parser(
        "remove", help="remove a webhook; deliveries queued for it are dropped"
    )
    remove.add_argument("id", type=row_id, help="the webhook's id, as 'webhook list' shows it")
    remove.set_defaults(handler=cmd_webhook_remove)

    for action in (add, listing, remove):
        arguments(action, options)
        action.set_defaults(options=options)
