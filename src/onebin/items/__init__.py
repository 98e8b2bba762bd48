"""The reference application: a catalogue of items, with its API and frontend.

It uses onebin only through ``AppSpec``/``AppContext``, the same way a user's own
application would.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from onebin.app import AppContext, AppSpec
from onebin.auth import Authenticator
from onebin.http import BodyLimits
from onebin.items.api import ItemsApi
from onebin.items.repository import MIGRATIONS, SQLiteItemStore


def api_routes(context: AppContext) -> list[BaseRoute]:
    api = ItemsApi(
        SQLiteItemStore(context.db),
        Authenticator(context.tokens, context.limiter),
        body_limits=BodyLimits(max_bytes=context.settings.max_body_bytes),
    )
    return list(api.routes())


spec = AppSpec(
    name="items",
    migrations=MIGRATIONS,
    api_routes=api_routes,
    assets_package="onebin.items.web",
)
