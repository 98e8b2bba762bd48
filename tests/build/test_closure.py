from __future__ import annotations

import pytest

from onebin.build.closure import dependencies, installed_requires, runtime_closure
from onebin.errors import BuildError

GRAPH = {
    "app": [
        "server[standard]",
        "crypto>=1",
        'pytest; extra == "dev"',
        'shiv; extra == "build"',
        'legacy; python_version < "3.0"',
    ],
    "server": ["h11", 'reload; extra == "standard"', 'fastparser; extra == "standard"'],
    "crypto": ["cffi"],
    "cffi": ["crypto"],  # a cycle must still settle
    "reload": ["anyio"],
    "fastparser": [],
    "h11": [],
    "anyio": [],
    "pytest": ["pluggy"],
    "guestbook": ["App", "Markdown"],
    "markdown": ["h11"],
}


def requires(name: str) -> list[str]:
    return GRAPH[name.lower()]


def test_runtime_closure_follows_requested_extras_only():
    assert runtime_closure("app", requires) == [
        "app",
        "anyio",
        "cffi",
        "crypto",
        "fastparser",
        "h11",
        "reload",
        "server",
    ]


def test_runtime_closure_drops_excluded_distributions_and_what_only_they_need():
    closure = runtime_closure("app", requires, excluded=["Reload"])
    assert "reload" not in closure
    assert "anyio" not in closure
    assert "fastparser" in closure


def test_dependencies_is_the_union_of_the_closures_without_the_roots():
    assert dependencies(["app", "guestbook"], requires) == [
        "anyio",
        "cffi",
        "crypto",
        "fastparser",
        "h11",
        "Markdown",
        "reload",
        "server",
    ]
    assert dependencies(["app", "guestbook"], requires, excluded=["reload"])[:2] == [
        "cffi",
        "crypto",
    ]


def test_runtime_closure_of_onebin_has_no_dev_or_build_tools():
    closure = {name.lower() for name in runtime_closure("onebin", installed_requires)}
    assert {"starlette", "uvicorn", "cryptography", "acme", "msgspec"} <= closure
    assert not closure & {
        "pytest",
        "hypothesis",
        "playwright",
        "schemathesis",
        "pyinstaller",
        "shiv",
        "brotli",
    }


def test_runtime_closure_gives_up_on_a_graph_that_never_settles():
    counter = iter(range(100_000))

    def endless(name: str) -> list[str]:
        return [f"d{next(counter)}"]

    with pytest.raises(BuildError):
        runtime_closure("root", endless)
