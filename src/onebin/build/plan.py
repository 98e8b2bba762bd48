"""What one build packs, decided from the app's reference before anything is copied.

An artifact runs one application with onebin's whole command line, so it carries
onebin and the app's own code. Both are copied from disk by their top-level import
name, because either may be an editable install whose files live in a source tree
that no ``RECORD`` lists. What onebin has beyond a server is left out: the items
catalogue unless it is the app being packed, and the project template of
``onebin new``.
"""

from __future__ import annotations

from dataclasses import dataclass

from onebin.build.launcher import check_name
from onebin.errors import BuildError

ONEBIN = "onebin"
ITEMS = "onebin.items"
# Parts of onebin that no artifact runs, as paths inside site-packages.
ITEMS_FILES = "onebin/items/"
NEVER_PACKED = ("onebin/template/",)


@dataclass(frozen=True)
class Plan:
    """One build: its artifacts' ``name`` and what goes into both of them.

    ``app_code`` is the dotted package the size report calls the app's code
    (``guestbook``; for an app inside onebin, its subpackage, ``onebin.items``),
    ``static`` the package of its static files, ``packages`` the top-level import
    names copied from disk (onebin first), and ``left_out`` path prefixes inside
    them that are not copied.
    """

    name: str
    reference: str
    app_code: str
    static: str | None
    packages: tuple[str, ...]
    left_out: tuple[str, ...]


def _dotted(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _within(dotted: str, package: str) -> bool:
    return dotted == package or dotted.startswith(package + ".")


def app_module(reference: str) -> str:
    """The module of a ``MODULE:ATTRIBUTE`` reference.

    Checked strictly because the reference is written into the generated entry
    module's source.
    """
    module, _, attribute = reference.partition(":")
    if not (module and _dotted(module) and attribute.isidentifier()):
        raise BuildError(f"{reference!r} is not a MODULE:ATTRIBUTE reference to an app")
    return module


def app_code_package(module: str) -> str:
    """The package that holds an app's code: the top level, or onebin's subpackage."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == ONEBIN else parts[0]


def plan_build(reference: str, *, name: str, static: str | None) -> Plan:
    """The plan for packing the app ``reference`` names, whose static files are ``static``."""
    module = app_module(reference)
    if static is not None and not _dotted(static):
        raise BuildError(f"static package {static!r} is not a dotted package name")
    tops = [ONEBIN, module.split(".")[0]]
    if static is not None:
        tops.append(static.split(".")[0])
    wanted = [module] if static is None else [module, static]
    items_used = any(_within(dotted, ITEMS) for dotted in wanted)
    return Plan(
        name=check_name(name),
        reference=reference,
        app_code=app_code_package(module),
        static=static,
        packages=tuple(dict.fromkeys(tops)),
        left_out=NEVER_PACKED if items_used else (ITEMS_FILES, *NEVER_PACKED),
    )
