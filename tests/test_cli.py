from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from onebin import __version__
from onebin.config import SETTINGS
from tests.support import ONEBIN, ServerProcess


def run(*argv: str, cwd=None, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONEBIN, *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


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


def test_version_flag_names_the_app_and_onebin():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"items {__version__} (onebin {__version__})\n"


SHOUT_APP = """
from onebin import App, JsonResponse, Migration, resource

async def hello(request):
    return JsonResponse({"hello": "world"})

app = App(
    name="shout",
    version="3.1.4",
    migrations=[Migration("shout", 1, "words", "CREATE TABLE words (word TEXT)")],
    routes=lambda context: [resource("/hello", {"GET": hello})],
)
"""


@pytest.fixture
def shout(tmp_path):
    """A second app, importable from ``tmp_path/code`` as ``shoutapp:app``."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "shoutapp.py").write_text(SHOUT_APP)
    return {**os.environ, "PYTHONPATH": str(code)}


def test_version_of_the_app_named_by_onebin_app(shout):
    result = run("--version", env={**shout, "ONEBIN_APP": "shoutapp:app"})
    assert result.stdout == f"shout 3.1.4 (onebin {__version__})\n"


def test_serve_runs_the_app_given_with_app(tmp_path, shout):
    server = ServerProcess(tmp_path / "data", extra_args=("--app", "shoutapp:app"), env=shout)
    try:
        server.start()
        assert httpx.get(f"{server.url}/hello").json() == {"hello": "world"}
        assert httpx.get(f"{server.url}/api/items").status_code == 404  # not the items app
        assert "onebin serving shout on http://127.0.0.1:" in server.log()
        token = server.token()  # the token command on the same app's database
        assert token.startswith("ob_")
    finally:
        server.stop()


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke", "x"],
        ["backup", "copy.sqlite3"],
        ["restore", "copy.sqlite3"],
        ["check"],
        ["build"],
    ],
)
def test_a_wrong_app_is_one_line_naming_what_was_not_found(tmp_path, shout, command):
    for reference, named in [
        ("nosuchmodule:app", "no module named 'nosuchmodule'"),
        ("shoutapp:nope", "module 'shoutapp' has no attribute 'nope'"),
    ]:
        result = run(*command, "--app", reference, cwd=tmp_path, env=shout)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [f"onebin: --app {reference}: {named}"]
    assert not (tmp_path / "data").exists()
    from_env = run(*command, cwd=tmp_path, env={**shout, "ONEBIN_APP": "nosuchmodule:app"})
    assert from_env.stderr.splitlines() == [
        "onebin: --app nosuchmodule:app: no module named 'nosuchmodule'"
    ]


def test_token_create_names_its_database_and_warns_about_a_new_data_dir(tmp_path):
    first = run("token", "create", "--name", "a", "--data-dir", "here", cwd=tmp_path)
    database = (tmp_path / "here" / "onebin.sqlite3").resolve()
    assert f"created in {database}" in first.stderr
    assert "here did not exist and was created" in first.stderr
    second = run("token", "create", "--name", "b", "--data-dir", "here", cwd=tmp_path)
    assert f"created in {database}" in second.stderr
    assert "did not exist" not in second.stderr


def test_token_create_replace_makes_a_tour_rerunnable(tmp_path):
    data_dir = str(tmp_path / "data")
    first = run("token", "create", "--name", "me", "--replace", "--data-dir", data_dir)
    again = run("token", "create", "--name", "me", "--replace", "--data-dir", data_dir)
    assert first.returncode == again.returncode == 0
    assert first.stdout != again.stdout
    duplicate = run("token", "create", "--name", "me", "--data-dir", data_dir)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    listed = run("token", "list", "--data-dir", data_dir).stdout.splitlines()
    assert [line.split()[-2] if "revoked" in line else line.split()[-1] for line in listed[1:]] == [
        "revoked",
        "active",
    ]


def test_a_mistyped_variable_or_flag_gets_a_suggestion(tmp_path):
    flag = run("serve", "--prot", "9000")
    assert flag.returncode == 2
    assert "did you mean --port?" in flag.stderr
    variable = run(
        "token", "list", "--data-dir", str(tmp_path), env={**os.environ, "ONEBIN_DATA_DRI": "x"}
    )
    assert "ONEBIN_DATA_DRI is not an onebin setting (did you mean ONEBIN_DATA_DIR?)" in (
        variable.stderr
    )


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
    assert missing.stderr.strip() == "onebin: no active token named 'nobody'"


def test_python_dash_m_and_console_script_agree():
    script = subprocess.run(
        [str(Path(sys.executable).parent / "onebin"), "--version"], capture_output=True, text=True
    )
    assert script.stdout == run("--version").stdout


def test_serve_refuses_an_app_claiming_onebins_paths_in_one_line(tmp_path, shout):
    code = Path(shout["PYTHONPATH"])
    (code / "greedy.py").write_text(
        "from onebin import App, JsonResponse, resource\n"
        "async def mine(request):\n    return JsonResponse({})\n"
        "app = App(name='greedy', routes=lambda c: [resource('/readyz', {'GET': mine})])\n"
    )
    result = run("serve", "--app", "greedy:app", "--port", "0", cwd=tmp_path, env=shout)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "onebin: app 'greedy': its routes claim /readyz, which onebin answers itself"
    )
