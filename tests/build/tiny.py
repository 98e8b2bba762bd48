"""A second, tiny application written into a test's directory, for packing tests.

It is importable only through the path it is written under (no distribution), it
uses onebin only through its public names, and its static files have no
precompressed variants, so the build has to make them.
"""

from __future__ import annotations

from pathlib import Path

REFERENCE = "tinyapp.app:app"
NAME = "tiny"
VERSION = "1.2.3"

APP = """\
from starlette.responses import JSONResponse
from starlette.routing import Route

from onebin import App, Static


async def hello(request):
    return JSONResponse({"hello": "tiny"})


def routes(context):
    return [Route("/hello", hello)]


app = App(name="tiny", version="1.2.3", routes=routes, static=Static("tinyapp.static"))
"""

# Text long and repetitive enough that both encodings are smaller than it.
INDEX = (
    "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>tiny</title>"
    '<link rel=stylesheet href="/style.css"><script type=module src="/app.js"></script>'
    "</head><body>\n"
    + "<p>A tiny app, packed by onebin into one file.</p>\n" * 20
    + "</body></html>\n"
)
SCRIPT = "".join(f'document.body.append("line {n} of a tiny app");\n' for n in range(40))
STYLE = "".join(f".tiny-{n} {{ margin: {n}px; padding: {n}px; }}\n" for n in range(40))
STATIC_FILES = {"index.html": INDEX, "app.js": SCRIPT, "style.css": STYLE, "empty.txt": ""}


def write_tiny_app(root: Path) -> Path:
    """Write the package ``tinyapp`` under ``root``; return ``root`` (for PYTHONPATH)."""
    package = root / "tinyapp"
    static = package / "static"
    static.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(APP)
    (static / "__init__.py").write_text("")
    for name, text in STATIC_FILES.items():
        (static / name).write_text(text)
    return root
