from __future__ import annotations

import asyncio
import gzip
import itertools
import zipfile
from pathlib import Path

import pytest

from onebin.assets import SecurityHeaders, content_hashed
from onebin.assets.index import Asset, build_index
from onebin.types import Message

SHELL_HTML = (
    b'<!doctype html><html><head><script type="module" src="/_app/immutable/entry/a1.js">'
    b"</script></head><body><script>start();</script></body></html>"
)
JS = b"export const answer = 42;\n" * 40
# The handler never decodes stored variants, so a marker stands in for real br bytes.
JS_BR = b"BR:" + JS[:20]

SITE = {
    "index.html": SHELL_HTML,
    "index.html.br": b"BR:shell",
    "index.html.gz": gzip.compress(SHELL_HTML, mtime=0),
    "_app/immutable/entry/a1.js": JS,
    "_app/immutable/entry/a1.js.br": JS_BR,
    "_app/immutable/entry/a1.js.gz": gzip.compress(JS, mtime=0),
    "_app/immutable/chunks/only-gzip.js": b"let x = 1;",
    "_app/immutable/chunks/only-gzip.js.gz": gzip.compress(b"let x = 1;", mtime=0),
    "_app/version.json": b'{"version":"1"}',
    "robots.txt": b"User-agent: *\n",
    "download.tar.gz": b"\x1f\x8b not an orphan variant",
    ".hidden": b"secret",
    "__init__.py": b"",
    # Python code beside the site, never part of it, whatever the packaging.
    "helper.py": b"SECRET = 'source'\n",
    "helper.py.gz": gzip.compress(b"SECRET = 'source'\n", mtime=0),
    "__pycache__/helper.cpython-311.pyc": b"\xa7\r\r\n byte code",
    "lib/tool.PY": b"import os\n",
    "lib/native.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
}
# What of SITE the index must never serve.
PYTHON_FILES = (
    "/helper.py",
    "/helper.py.gz",
    "/__pycache__/helper.cpython-311.pyc",
    "/lib/tool.PY",
    "/lib/native.cpython-311-x86_64-linux-gnu.so",
)

_names = itertools.count()


def write_package(root: Path, files: dict[str, bytes]) -> str:
    """A real importable package holding ``files``; returns its (unique) name."""
    name = f"built_site_{next(_names)}"
    for relative, body in files.items():
        target = root / name / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return name


@pytest.fixture
def site_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = write_package(tmp_path / "src", SITE)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    return name


@pytest.fixture
def zipped_site_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = write_package(tmp_path / "unzipped", SITE)
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted((tmp_path / "unzipped").rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(tmp_path / "unzipped").as_posix())
    monkeypatch.syspath_prepend(str(archive))
    return name


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Asset]:
    name = write_package(tmp_path, SITE)
    return build_index(tmp_path / name, immutable=content_hashed, headers=SecurityHeaders())


class Reply:
    """What an ASGI app sent for one request."""

    def __init__(self, messages: list[Message]) -> None:
        start, *bodies = messages
        assert start["type"] == "http.response.start"
        self.status: int = start["status"]
        self.raw_headers: list[tuple[bytes, bytes]] = list(start["headers"])
        self.headers = {k.decode(): v.decode() for k, v in self.raw_headers}
        self.body = b"".join(message.get("body", b"") for message in bodies)
        assert not bodies[-1].get("more_body", False)


def call_asgi(
    app,
    path: str,
    *,
    method: str = "GET",
    raw_path: bytes | None = None,
    headers: list[tuple[str, str]] = (),
) -> Reply:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    return Reply(messages)
