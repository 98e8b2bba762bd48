"""The public library API: what docs/library.md promises, and that the items app keeps to it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import onebin

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ROOT / "src" / "onebin" / "items"


@pytest.mark.parametrize("name", onebin.__all__)
def test_every_public_name_resolves(name):
    assert getattr(onebin, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        onebin.Nope  # noqa: B018


def test_library_page_documents_every_public_name():
    page = (ROOT / "docs" / "library.md").read_text()
    documented = set(re.findall(r"^#+ `(\w+)", page, flags=re.MULTILINE))
    assert documented >= set(onebin.__all__) - {"__version__"}


def onebin_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("onebin"):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("onebin")]
    return found


@pytest.mark.parametrize("path", sorted(ITEMS.glob("*.py")), ids=lambda path: path.name)
def test_the_items_app_uses_only_the_public_api(path):
    private = [
        module
        for module in onebin_imports(path)
        if module != "onebin" and not module.startswith("onebin.items")
    ]
    assert private == []
