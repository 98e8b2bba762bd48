"""What the artifacts leave out, and why.

PyInstaller already takes only what the import graph reaches, so this table lists
what that graph reaches but a running server never executes: optional features of
dependencies that onebin does not switch on, standard-library tools, and the
development and build tools that live in the same virtualenv. The zipapp copies
whole distributions, so an entry names the distribution too when there is one to
drop from the runtime closure.

The table is onebin's: it says what onebin never runs, not what the packed app
never runs. A distribution the app's own distribution requires (PyYAML, say) is
therefore packed even where the table would trim it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from onebin.build.report import normalize


@dataclass(frozen=True)
class Exclusion:
    module: str
    distribution: str | None
    reason: str


EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion("watchfiles", "watchfiles", "uvicorn --reload only"),
    Exclusion("websockets", "websockets", "onebin serves no WebSockets"),
    Exclusion("wsproto", "wsproto", "onebin serves no WebSockets"),
    Exclusion("dotenv", "python-dotenv", "uvicorn --env-file only; onebin reads ONEBIN_*"),
    Exclusion("yaml", "PyYAML", "uvicorn YAML log configs only"),
    # httpx (webhook deliveries) imports its command line if it can: its colours and
    # syntax highlighting were 2.5 MB of the executable.
    Exclusion("rich", "rich", "httpx's command line only"),
    Exclusion("pygments", "Pygments", "httpx's command line only"),
    Exclusion("markdown_it", "markdown-it-py", "httpx's command line only (through rich)"),
    Exclusion("mdurl", "mdurl", "httpx's command line only (through rich)"),
    Exclusion("tkinter", None, "GUI toolkit"),
    Exclusion("unittest", None, "test framework"),
    Exclusion("doctest", None, "test framework"),
    Exclusion("pydoc", None, "interactive help"),
    Exclusion("pdb", None, "debugger"),
    Exclusion("lib2to3", None, "Python 2 converter"),
    Exclusion("ensurepip", None, "installer"),
    Exclusion("pytest", None, "development only"),
    Exclusion("_pytest", None, "development only"),
    Exclusion("hypothesis", None, "development only"),
    Exclusion("playwright", None, "development only"),
    Exclusion("schemathesis", None, "development only"),
    Exclusion("PyInstaller", None, "build only: an artifact does not rebuild itself"),
    Exclusion("shiv", None, "build only"),
    Exclusion("setuptools", None, "build only"),
    Exclusion("pip", None, "build only"),
    Exclusion("packaging", "packaging", "build only: reads requirements for the zipapp"),
    # urllib3 would import it for brotli responses, which onebin's ACME client never gets.
    Exclusion("brotli", "Brotli", "build only: precompresses static files"),
    Exclusion("_brotli", "Brotli", "build only: brotli's extension"),
)


def in_force(needed: Collection[str] = ()) -> tuple[Exclusion, ...]:
    """The exclusions that hold for an app whose distribution needs ``needed`` at run time."""
    wanted = {normalize(name) for name in needed}
    return tuple(
        exclusion
        for exclusion in EXCLUSIONS
        if exclusion.distribution is None or normalize(exclusion.distribution) not in wanted
    )


def excluded_modules(needed: Collection[str] = ()) -> tuple[str, ...]:
    return tuple(exclusion.module for exclusion in in_force(needed))


def excluded_distributions(needed: Collection[str] = ()) -> frozenset[str]:
    return frozenset(e.distribution for e in in_force(needed) if e.distribution is not None)
