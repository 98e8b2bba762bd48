"""sslyze, run as its CLI from its own virtualenv (``make scanner``) against a real server."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SSLYZE = REPO / ".venv-scanner" / "bin" / "sslyze"


@dataclass(frozen=True)
class Scan:
    returncode: int
    output: str
    result: dict[str, Any]

    def accepted(self, version: str) -> set[str]:
        """IANA names of the suites accepted for ``version``, like "tls_1_2"."""
        suites = self.result[f"{version}_cipher_suites"]["result"]["accepted_cipher_suites"]
        return {suite["cipher_suite"]["name"] for suite in suites}

    def key_exchange(self, version: str) -> set[str]:
        """What each accepted suite of ``version`` used: "ECDH secp256r1", "DH 2048", ..."""
        suites = self.result[f"{version}_cipher_suites"]["result"]["accepted_cipher_suites"]
        seen = set()
        for suite in suites:
            key = suite["ephemeral_key"]
            seen.add(f"{key['type_name']} {key.get('curve_name') or key['size']}")
        return seen

    @property
    def curves(self) -> set[str]:
        supported = self.result["elliptic_curves"]["result"]["supported_curves"] or []
        return {curve["name"] for curve in supported}

    @property
    def resumption(self) -> dict[str, Any]:
        return self.result["session_resumption"]["result"]


def scan_mozilla_intermediate(port: int, ca_file: Path, out: Path, name: str = "app.test") -> Scan:
    """Scan ``name`` served on 127.0.0.1:``port`` against Mozilla's intermediate profile."""
    if not SSLYZE.exists():
        pytest.fail(f"{SSLYZE} is missing: run `make scanner`")
    result = subprocess.run(
        [
            str(SSLYZE),
            "--mozilla_config=intermediate",
            "--resum",
            "--certinfo_ca_file", str(ca_file),
            "--json_out", str(out),
            f"{name}:{port}{{127.0.0.1}}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    report = json.loads(out.read_text()) if out.exists() else {"server_scan_results": [{}]}
    scanned = report["server_scan_results"][0].get("scan_result") or {}
    return Scan(result.returncode, result.stdout + result.stderr, scanned)
