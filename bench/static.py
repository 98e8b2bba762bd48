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
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


@contextmanager
def onebin(tmp: Path, path: str) -> Iterator[int]:
    with ServerProcess(tmp / "onebin-data", extra_args=("--log-level", "warning")) as server:
        yield server.port


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


SERVERS = {"onebin": onebin, "caddy": caddy, "nginx": nginx}


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, *, duration: int, connections: int) -> tuple[float, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += ["-H", f"Accept-Encoding: {ACCEPT}", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output:
        raise SystemExit(f"{url} answered errors under load:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    return rps, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per server")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    path = hashed_js()
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="onebin-bench-static-") as workdir:
        for name, start in SERVERS.items():
            tmp = Path(workdir) / name
            tmp.mkdir()
            with start(tmp, path) as port:
                status, headers, size = fetch(port, path)
                served = headers.get("content-encoding", "identity")
                print(f"{name:<7} serves {path}: {status}, {served}, {size} bytes", flush=True)
                results[name] = wrk(
                    f"http://127.0.0.1:{port}{path}",
                    duration=args.duration,
                    connections=args.connections,
                )
    print(f"\n{'server':<8} {'req/s':>10} {'p99 ms':>8}")
    for name, (rps, p99) in results.items():
        print(f"{name:<8} {rps:>10,.0f} {p99:>8.2f}")
    onebin_rps, onebin_p99 = results["onebin"]
    caddy_rps, caddy_p99 = results["caddy"]
    nginx_rps, _ = results["nginx"]
    print(f"\nonebin/Caddy req/s: {onebin_rps / caddy_rps:.2f}x (target >= 1.5x)")
    print(f"onebin/nginx req/s: {onebin_rps / nginx_rps:.2f}x (target >= 0.5x)")
    print(f"p99 onebin {onebin_p99:.2f} ms vs Caddy {caddy_p99:.2f} ms (target: below Caddy)")


if __name__ == "__main__":
    main()
