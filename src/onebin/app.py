"""What an application is, in onebin's terms: ``App`` and the ``Context`` it is handed.

An application tells onebin what it has: its name and version, its database
migrations, its routes, its static files and the security headers of its pages.
onebin owns the rest: the database file, tokens, HTTPS, health checks, limits and
the shape of every error. This module and the names ``onebin`` exports are the
whole contract (docs/library.md); everything else inside onebin is private.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute

from onebin.assets import SecurityHeaders, Static
from onebin.auth import Authenticator
from onebin.config import Settings
from onebin.errors import AppError
from onebin.events import Events
from onebin.http import BodyLimits
from onebin.jobs.queue import JobQueue
from onebin.jobs.runner import Handler
from onebin.jobs.schedule import Periodic
from onebin.semantic.collection import Semantic
from onebin.store.database import Database
from onebin.store.migrations import LIBRARY_COMPONENT, Migration
from onebin.store.tokens import TokenRecord

if TYPE_CHECKING:
    from onebin.semantic.search import SemanticSearch

# The items catalogue: what `onebin` serves when no other application is named.
DEFAULT_APP = "onebin.items:app"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class Context:
    """What onebin hands an application's ``routes`` function at start.

    ``settings`` are the validated settings of this run, ``db`` the database (see
    docs/library.md for its ``lookup``/``read``/``write`` contract), ``events`` its
    event log (``append`` in a write, ``stream`` to mount), ``body_limits`` the
    request body limits to pass to ``read_json``. onebin builds the context; an
    application only reads it.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        auth: Authenticator,
        events: Events,
        *,
        jobs: JobQueue | None = None,
        semantic: Mapping[str, SemanticSearch] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.events = events
        # The job queue: ``context.jobs.enqueue(conn, kind, payload)`` inside a write.
        self.jobs = jobs if jobs is not None else JobQueue(db)  # type: ignore[arg-type]
        # The app's semantic collections by name (``App(semantic=...)``).
        self.semantic: Mapping[str, SemanticSearch] = semantic or {}
        self.body_limits = BodyLimits(max_bytes=settings.max_body_bytes)
        self._auth = auth

    async def require_token(self, request: Request) -> TokenRecord:
        """The request's valid token (its ``name`` says whose), or a JSON 401/429.

        Raises ``ApiError``, which onebin answers as JSON: 401 for a missing, unknown
        or revoked token, 429 with ``Retry-After`` once a client address has sent too
        many bad ones. Call it first in every handler that changes data.
        """
        return await self._auth.require_token(request)

    async def require_admin(self, request: Request) -> TokenRecord:
        """The request's valid admin token (``token create --admin``), else a JSON
        401/429 as ``require_token`` or a 403 ``admin_required`` for a write token."""
        return await self._auth.require_admin(request)


Routes = Callable[[Context], Sequence[BaseRoute]]
JobHandlers = Callable[[Context], Mapping[str, Handler]]
# Job kinds starting with this are onebin's own (webhook delivery, pruning).
RESERVED_KIND_PREFIX = "onebin."


@dataclass(frozen=True)
class App:
    """An application onebin can serve and pack into one file.

    - ``name``: lower-case letters, digits, ``-`` and ``_``; it names the
      executable ``onebin build`` writes and appears in the start-up log line.
    - ``version``: shown by ``--version`` beside onebin's.
    - ``migrations``: the app's schema changes, applied in order at start (each
      ``Migration``'s component is the app's own name for its tables; ``onebin`` is
      taken).
    - ``routes``: called once per process with the ``Context``; returns Starlette
      ``Route``/``Mount`` objects at paths the app chooses. A route claims its path,
      or everything below the literal part before its first ``{parameter}``; a
      ``Mount`` claims everything below it. ``/healthz``, ``/readyz``,
      ``/.well-known/acme-challenge/`` and ``/_onebin/`` are onebin's, and an app
      that claims them is refused at start.
    - ``static``: the app's static files (``Static``); paths no route claims go there.
    - ``headers``: the security headers of its HTML pages; strict by default.
    - ``jobs``: called once per process with the ``Context``; returns the app's job
      handlers by kind (``{"send-mail": send_mail}``), each an async function of a
      ``Job``. Kinds starting with ``onebin.`` are onebin's.
    - ``periodic``: ``Periodic`` jobs, enqueued once per slot across all processes;
      each needs a handler in ``jobs``.
    - ``semantic``: ``Semantic`` collections, rows found by meaning; each is searched
      through ``context.semantic[name]``.
    """

    name: str
    version: str = "0.0.0"
    migrations: Sequence[Migration] = ()
    routes: Routes | None = None
    static: Static | None = None
    headers: SecurityHeaders = field(default_factory=SecurityHeaders)
    jobs: JobHandlers | None = None
    periodic: Sequence[Periodic] = ()
    semantic: Sequence[Semantic] = ()

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise AppError(
                f"app name {self.name!r} must be 1-64 of a-z, 0-9, - and _, starting with a letter"
            )
        if not self.version or not isinstance(self.version, str):
            raise AppError(f"app {self.name!r}: version must be a non-empty string")
        if self.routes is not None and not callable(self.routes):
            self._refuse("routes", "a function of the Context returning routes", self.routes)
        if self.static is not None and not isinstance(self.static, Static):
            self._refuse("static", "a Static", self.static)
        if not isinstance(self.headers, SecurityHeaders):
            self._refuse("headers", "a SecurityHeaders", self.headers)
        if self.jobs is not None and not callable(self.jobs):
            self._refuse("jobs", "a function of the Context returning handlers", self.jobs)
        for periodic in self.periodic:
            if not isinstance(periodic, Periodic):
                self._refuse("periodic", "a sequence of Periodic", periodic)
            self.check_kind(periodic.kind)
        if self.periodic and self.jobs is None:
            raise AppError(f"app {self.name!r}: periodic jobs need their handlers in jobs=")
        for collection in self.semantic:
            if not isinstance(collection, Semantic):
                self._refuse("semantic", "a sequence of Semantic", collection)
        names = [collection.name for collection in self.semantic]
        if len(set(names)) != len(names):
            raise AppError(f"app {self.name!r}: two semantic collections have the same name")
        for migration in self.migrations:
            if not isinstance(migration, Migration):
                raise AppError(
                    f"app {self.name!r}: migrations must be Migration objects, "
                    f"not {type(migration).__name__}"
                )
            if migration.component == LIBRARY_COMPONENT:
                raise AppError(
                    f"app {self.name!r}: migration component {LIBRARY_COMPONENT!r} is onebin's; "
                    "name your own (e.g. the app's name)"
                )

    def check_kind(self, kind: str) -> None:
        """``AppError`` for a job kind that is onebin's."""
        if kind.startswith(RESERVED_KIND_PREFIX):
            raise AppError(
                f"app {self.name!r}: job kind {kind!r} is onebin's "
                f"(kinds starting {RESERVED_KIND_PREFIX!r} are reserved)"
            )

    def _refuse(self, field_name: str, kind: str, value: object) -> None:
        raise AppError(
            f"app {self.name!r}: {field_name} must be {kind}, not {type(value).__name__}"
        )


def load_app(reference: str) -> App:
    """The ``App`` named ``MODULE:ATTRIBUTE``; ``AppError`` naming what was not found.

    The current directory is searched only when the module is not found without it
    (as ``python -m`` would find a project you stand in): an installed package,
    editable ones included, always wins over a same-named directory where you stand.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise AppError(f"--app {reference!r}: expected MODULE:ATTRIBUTE, e.g. guestbook.app:app")
    try:
        module = _import(module_name, reference)
    except ModuleNotFoundError as missing:
        if os.getcwd() in sys.path:
            raise AppError(f"--app {reference}: no module named {missing.name!r}") from None
        sys.path.append(os.getcwd())
        try:
            module = _import(module_name, reference)
        except ModuleNotFoundError as again:
            raise AppError(f"--app {reference}: no module named {again.name!r}") from None
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise AppError(
            f"--app {reference}: module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if not isinstance(found, App):
        raise AppError(
            f"--app {reference}: {attribute} is a {type(found).__name__}, not an onebin App"
        )
    return found


def _import(module_name: str, reference: str) -> Any:
    """The module; ``ModuleNotFoundError`` only if it (or a parent) is missing.

    Anything else that fails while importing it, a missing dependency included, is
    one ``AppError`` line naming the cause, never a traceback.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise
        raise AppError(f"--app {reference}: importing {module_name} failed: {exc}") from None
    except Exception as exc:
        raise AppError(
            f"--app {reference}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
