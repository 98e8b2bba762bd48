"""A real Pebble ACME server and its fake DNS, started on free ports for one test.

Pebble ships no certificate for its own HTTPS listener, so each instance gets a
fresh CA from ``trustme``; clients trust it through ``ca_file``. Every name
resolves to 127.0.0.1 through ``pebble-challtestsrv``, so ``app.test`` validates
against the onebin HTTP port given as ``http_port``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import trustme
import uvicorn

from onebin.tls.redirect import challenge_and_redirect_app
from onebin.tls.storage import CertificateStore
from tests.support import free_port, wait_until


class Pebble:
    def __init__(
        self,
        workdir: Path,
        *,
        http_port: int,
        validity_seconds: int | None = None,
        nonce_reject_percent: int = 5,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.http_port = http_port
        self.validity_seconds = validity_seconds
        self.nonce_reject_percent = nonce_reject_percent
        self.port = port or free_port()
        self.management_port = free_port()
        self.dns_port = free_port()
        self.ca_file = workdir / "pebble-ca.pem"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._write_config()

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        ca.cert_pem.write_to_path(str(self.ca_file))
        leaf.cert_chain_pems[0].write_to_path(str(self.workdir / "pebble-cert.pem"))
        leaf.private_key_pem.write_to_path(str(self.workdir / "pebble-key.pem"))
        config = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(self.workdir / "pebble-cert.pem"),
            "privateKey": str(self.workdir / "pebble-key.pem"),
            "httpPort": self.http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if self.validity_seconds is not None:
            config["certificateValidityPeriod"] = self.validity_seconds
        (self.workdir / "pebble.json").write_text(json.dumps({"pebble": config}))

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self._processes.append(
            subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        )
        log.close()

    def start(self) -> Pebble:
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": str(self.nonce_reject_percent),
        }
        self._spawn(
            "challtestsrv",
            [
                "pebble-challtestsrv",
                "-http01", "",
                "-https01", "",
                "-tlsalpn01", "",
                "-dns01", f"127.0.0.1:{self.dns_port}",
                "-management", f"127.0.0.1:{free_port()}",
                "-defaultIPv6", "",
            ],
            env,
        )  # fmt: skip
        self._spawn(
            "pebble",
            [
                "pebble",
                "-config", str(self.workdir / "pebble.json"),
                "-dnsserver", f"127.0.0.1:{self.dns_port}",
            ],
            env,
        )  # fmt: skip
        wait_until(self.ready, what="pebble to serve its directory")
        return self

    def ready(self) -> bool:
        for process in self._processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args[0]} exited:\n{self.log()}")
        try:
            return httpx.get(self.directory, verify=self.client_context(), timeout=1).is_success
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob("*.log"))
        )

    def client_context(self) -> ssl.SSLContext:
        """Trusts Pebble's own HTTPS listener (not the certificates it issues)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def wait(self) -> None:
        """Until Pebble exits (or Ctrl-C)."""
        self._processes[-1].wait()

    def root_pem(self) -> str:
        """Pebble's issuing root; it changes on every start."""
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        return httpx.get(url, verify=self.client_context(), timeout=5).text

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self._processes.clear()

    def __enter__(self) -> Pebble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_challenges(store: CertificateStore, port: int) -> Iterator[None]:
    """onebin's real HTTP-port app answering ``store``'s challenges, in a thread."""
    app = challenge_and_redirect_app(store, https_port=443, domains=("app.test",))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="the challenge server to start")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def main() -> None:
    """Run Pebble for trying onebin's HTTPS by hand: ``python -m tests.tls.pebble``."""
    parser = argparse.ArgumentParser(description="Pebble + fake DNS for a local HTTPS trial")
    parser.add_argument("--port", type=int, default=14000, help="Pebble's ACME port")
    parser.add_argument("--http-port", type=int, default=5002, help="onebin's HTTP port")
    parser.add_argument("--dir", type=Path, default=Path(".pebble"), help="where its CA goes")
    args = parser.parse_args()
    pebble = Pebble(args.dir.resolve(), http_port=args.http_port, port=args.port).start()
    print(
        "Pebble is ready. In another terminal:\n"
        f"  onebin serve --domain app.test --http-port {args.http_port} --https-port 8443 "
        f"--acme-directory {pebble.directory} --acme-ca-file {pebble.ca_file}\n"
        "Ctrl-C stops Pebble.",
        flush=True,
    )
    try:
        pebble.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pebble.stop()


if __name__ == "__main__":
    main()
