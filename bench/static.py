"""Static serving benchmark: onebin vs Caddy vs nginx on the same build, in one run.

Run: ``make bench`` (or ``.venv/bin/python bench/static.py --duration 10``). Each
server in turn serves the built frontend (``src/onebin/items/web``, so run
``make frontend`` first) and wrk fetches the same, largest hashed JS file with
``Accept-Encoding: br, gzip``; every server sends its stored ``.br`` variant. Prints
requests/s and p99 per server and the ratios onebin/Caddy and onebin/nginx.
Needs Debian's ``wrk``, ``caddy``, ``nginx`` and ``libnginx-mod-http-brotli-static``;
their configurations are written to a temporary directory.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.wrk import wrk  # noqa: E402
from tests.support import ServerProcess, free_port, wait_until  # noqa: E402

WEB = ROOT / "src" / "onebin" / "items" / "web"
BROTLI_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so"
ACCEPT = "br, gzip"

NGINX_CONF = """\
daemon off;
worker_processes 2;
pid {tmp}/nginx.pid;
load_module {brotli};
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {web};
        brotli_static on;
        gzip_static on;
        location /_app/immutable/ {{
            add_header Cache-Control "public, max-age=31536000, immutable";
        }}
    }}
}}
"""

CADDYFILE = """\
{{
    admin off
    auto_https off
    storage file_system {tmp}/caddy-data
}}
http://127.0.0.1:{port} {{
    root * {web}
    header /_app/immutable/* Cache-Control "public, max-age=31536000, immutable"
    file_server {{
        precompressed br gzip
    }}
}}
"""


def hashed_js() -> str:
    """URL path of the largest hashed JS file, the one every server is measured on."""
    files = sorted((WEB / "_app" / "immutable").rglob("*.js"), key=lambda p: p.stat().st_size)
    if not files:
        raise SystemExit(f"no built frontend in {WEB}: run `make frontend` first")
    return "/" + files[-1].relative_to(WEB).as_posix()


def fetch(port: int, path: str) -> tuple[int, dict[str, str], int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": ACCEPT})
        response = connection.getresponse()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, len(body)
    finally:
        connection.close()


def answers(port: int, path: str) -> bool:
    try:
        return fetch(port, path)[0] == 200
    except OSError:
        return False


@contextmanager
def process(
    command: list[str], tmp: Path, port: int, path: str, env: dict[str, str]
) -> Iterator[int]:
    with (tmp / "server.log").open("wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: child.poll() is None and answers(port, path), what=command[0])
        yield port
    finally:
        child.terminate()
        child.wait(timeout=10)


def onebin(workers: int) -> Callable[[Path, str], AbstractContextManager[int]]:
    @contextmanager
    def start(tmp: Path, path: str) -> Iterator[int]:
        args = ("--log-level", "warning", "--workers", str(workers))
        with ServerProcess(tmp / "onebin-data", extra_args=args) as server:
            yield server.port

    return start


@contextmanager
def caddy(tmp: Path, path: str) -> Iterator[int]:
    port = free_port()
    config = tmp / "Caddyfile"
    config.write_text(CADDYFILE.format(tmp=tmp, port=port, web=WEB))
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp)}
    command = ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"]
    with process(command, tmp, port, path, env) as ready:
        yield ready


@contextmanager
def nginx(tmp: Path, path: str) -> Iterator[int]:
    port = free_port()
    config = tmp / "nginx.conf"
    config.write_text(NGINX_CONF.format(tmp=tmp, port=port, web=WEB, brotli=BROTLI_MODULE))
    command = ["nginx", "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(config)]
    with process(command, tmp, port, path, dict(os.environ)) as ready:
        yield ready


# nginx runs 2 worker processes, so onebin is measured with 1 and with 2.
SERVERS = {"onebin": onebin(1), "onebin-w2": onebin(2), "caddy": caddy, "nginx": nginx}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per server")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    path = hashed_js()
    results = {}
    with tempfile.TemporaryDirectory(prefix="onebin-bench-static-") as workdir:
        for name, start in SERVERS.items():
            tmp = Path(workdir) / name
            tmp.mkdir()
            with start(tmp, path) as port:
                status, headers, size = fetch(port, path)
                served = headers.get("content-encoding", "identity")
                print(f"{name:<9} serves {path}: {status}, {served}, {size} bytes", flush=True)
                result = wrk(
                    f"http://127.0.0.1:{port}{path}",
                    duration=args.duration,
                    connections=args.connections,
                    headers=(f"Accept-Encoding: {ACCEPT}",),
                )
                if result.errors:
                    raise SystemExit(f"{name} answered {result.errors} errors under load")
                results[name] = result
    print(f"\n{'server':<10} {'req/s':>10} {'p99 ms':>8}")
    for name, result in results.items():
        print(f"{name:<10} {result.rps:>10,.0f} {result.p99_ms:>8.2f}")
    caddy, nginx = results["caddy"], results["nginx"]
    for name in ("onebin", "onebin-w2"):
        ours = results[name]
        print(f"\n{name}/Caddy req/s: {ours.rps / caddy.rps:.2f}x (target >= 1.5x)")
        print(f"{name}/nginx req/s: {ours.rps / nginx.rps:.2f}x (target >= 0.5x)")
        print(f"{name} p99 {ours.p99_ms:.2f} ms vs Caddy {caddy.p99_ms:.2f} ms (target: below)")


if __name__ == "__main__":
    main()
