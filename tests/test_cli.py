from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from onebin.config import SETTINGS
from tests.support import ONEBIN


def run(*argv: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONEBIN, *argv], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_serve_help_documents_every_setting_and_its_variable():
    result = run("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option in SETTINGS:
        assert option.flag in text
        assert option.env in text


def test_invalid_setting_fails_fast_with_one_line_and_exit_2(tmp_path):
    result = run("serve", "--port", "eighty", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "onebin: invalid --port: 'eighty' is not a whole number"
    ]
    assert not (tmp_path / "d").exists()


def test_version_flag():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("onebin ")


def test_token_create_list_revoke(tmp_path):
    data_dir = str(tmp_path / "data")
    created = run("token", "create", "--name", "deploy", "--data-dir", data_dir)
    assert created.returncode == 0
    secret = created.stdout.strip()
    assert secret.startswith("ob_")
    assert "shown only this once" in created.stderr
    listed = run("token", "list", "--data-dir", data_dir)
    assert "deploy" in listed.stdout
    assert "active" in listed.stdout
    assert secret not in listed.stdout
    assert run("token", "revoke", "deploy", "--data-dir", data_dir).returncode == 0
    assert "revoked" in run("token", "list", "--data-dir", data_dir).stdout
    missing = run("token", "revoke", "nobody", "--data-dir", data_dir)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "onebin: no token named 'nobody'"


def test_python_dash_m_and_console_script_agree():
    script = subprocess.run(
        [str(Path(sys.executable).parent / "onebin"), "--version"], capture_output=True, text=True
    )
    assert script.stdout == run("--version").stdout
