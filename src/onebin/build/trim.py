"""What the artifacts leave out, and why.

PyInstaller already takes only what the import graph reaches, so this table lists
what that graph reaches but a running server never executes: optional features of
dependencies that onebin does not switch on, standard-library tools, and the
development and build tools that live in the same virtualenv. The zipapp copies
whole distributions, so an entry names the distribution too when there is one to
drop from the runtime closure.
"""

from __future__ import annotations

from dataclasses import dataclass


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
)


def excluded_modules() -> tuple[str, ...]:
    return tuple(exclusion.module for exclusion in EXCLUSIONS)


def excluded_distributions() -> frozenset[str]:
    return frozenset(e.distribution for e in EXCLUSIONS if e.distribution is not None)
