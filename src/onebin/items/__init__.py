"""The reference application: a catalogue of items, with its API and frontend.

It uses onebin only through the public names ``onebin`` exports, the same way your
own application would (docs/library.md).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from onebin import App, Context, Static, __version__
from onebin.items.api import ItemsApi
from onebin.items.repository import MIGRATIONS, SQLiteItemStore


def routes(context: Context) -> list[BaseRoute]:
    api = ItemsApi(
        SQLiteItemStore(context.db), context.require_token, body_limits=context.body_limits
    )
    return list(api.routes())


app = App(
    name="items",
    version=__version__,
    migrations=MIGRATIONS,
    routes=routes,
    # The SvelteKit build: its router draws every page, so unknown paths get the shell.
    static=Static("onebin.items.web", spa_fallback=True),
)
