"""The runtime dependency closure of a distribution, read from installed metadata.

The zipapp is staged from the build virtualenv's own files rather than from a fresh
``pip install``: the build then needs no network and packs exactly the pinned
versions the tests ran against. Only runtime requirements are followed (extras the
parent asked for, never ``dev`` or ``build``), so test tools cannot leak in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement

from onebin.build.report import normalize
from onebin.errors import BuildError

Requires = Callable[[str], list[str]]


def installed_requires(distribution: str) -> list[str]:
    return metadata.requires(distribution) or []


def runtime_closure(root: str, requires: Requires, excluded: Collection[str] = ()) -> list[str]:
    """Every distribution ``root`` needs at run time, ``root`` first, then sorted by name.

    ``requires`` gives a distribution's requirement strings (``Requires-Dist``);
    requirements whose markers do not hold here, or that are ``excluded``, are
    skipped along with everything only they would bring in.
    """
    skip = {normalize(name) for name in excluded}
    wanted: dict[str, set[str]] = {normalize(root): set()}
    names = {normalize(root): root}
    queue = [root]
    for _ in range(10_000):  # a bound far above any real dependency graph
        if not queue:
            break
        name = queue.pop()
        extras = wanted[normalize(name)]
        for line in requires(name):
            requirement = Requirement(line)
            key = normalize(requirement.name)
            if key in skip or not _applies(requirement, extras):
                continue
            new_extras = set(requirement.extras) - wanted.get(key, set())
            if key not in wanted or new_extras:
                wanted.setdefault(key, set()).update(requirement.extras)
                names[key] = requirement.name
                queue.append(requirement.name)
    else:
        raise BuildError(f"the dependencies of {root} did not settle")
    others = sorted(key for key in wanted if key != normalize(root))
    return [root, *(names[key] for key in others)]


def dependencies(
    roots: Collection[str], requires: Requires, excluded: Collection[str] = ()
) -> list[str]:
    """What the ``roots`` need at run time together, the roots themselves left out, sorted.

    The union of their runtime closures: onebin's and the app's distribution's,
    whose own files are staged from disk instead.
    """
    chosen = {normalize(root) for root in roots}
    needed: dict[str, str] = {}
    for root in roots:
        for name in runtime_closure(root, requires, excluded):
            if normalize(name) not in chosen:
                needed.setdefault(normalize(name), name)
    return [needed[key] for key in sorted(needed)]


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    environment = default_environment()
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras or {""}
    )
