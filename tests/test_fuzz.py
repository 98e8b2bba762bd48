"""Schemathesis against the real server's own OpenAPI document: no 5xx, spec kept.

Bounded: ``MAX_EXAMPLES`` per operation and phase. Every check runs (server
errors, status codes and response bodies against the schema, content types,
headers, auth actually enforced, negative data rejected, stateful links).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support import ServerProcess, make_token

ROOT = Path(__file__).resolve().parent.parent
MAX_EXAMPLES = 40


def test_schemathesis_finds_no_failures(tmp_path):
    data_dir = tmp_path / "data"
    token = make_token(data_dir)
    # Fuzzing sends many deliberately unauthenticated writes; the per-address
    # failure limit would otherwise turn the rest of the run into 429s.
    with ServerProcess(data_dir, extra_args=("--auth-failure-limit", "60000")) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"{server.url}/api/openapi.json",
                "--url",
                server.url,
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        server_log = server.log()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated, output[-2000:]
    assert int(generated.group(1)) >= 200
    assert "Traceback" not in server_log
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "schemathesis.txt").write_text(output)
