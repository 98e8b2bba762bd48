from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from onebin import App, __version__
from onebin.cli import build_parser, program_name
from onebin.config import SETTINGS
from onebin.versions import version_line, versions
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
    assert result.stdout == version_line(versions(App(name="items", version=__version__))) + "\n"


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
    assert result.stdout == version_line(versions(App(name="shout", version="3.1.4"))) + "\n"


def test_serve_and_token_run_the_app_named_by_onebin_app(tmp_path, shout):
    server = ServerProcess(tmp_path / "data", env={**shout, "ONEBIN_APP": "shoutapp:app"})
    try:
        server.start()
        assert httpx.get(f"{server.url}/hello").json() == {"hello": "world"}
        assert httpx.get(f"{server.url}/api/items").status_code == 404  # not the items app
        assert "onebin serving shout on http://127.0.0.1:" in server.log()
        token = server.token()  # the same ONEBIN_APP: the token command opens its database
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


def test_two_apps_never_share_a_data_directory(tmp_path, shout):
    data_dir = str(tmp_path / "data")
    assert run("token", "create", "--data-dir", data_dir).returncode == 0  # the items app
    other = run("token", "list", "--app", "shoutapp:app", "--data-dir", data_dir, env=shout)
    assert other.returncode == 1
    assert other.stderr.splitlines() == [
        f"onebin: cannot open database {data_dir}/onebin.sqlite3: the database holds another "
        "application's tables (items); give each application its own --data-dir"
    ]


def test_restore_refuses_another_apps_backup_and_swaps_nothing(tmp_path, shout):
    items_dir, shout_dir = str(tmp_path / "items"), str(tmp_path / "shout")
    run("token", "create", "--name", "items-token", "--data-dir", items_dir)
    run("backup", str(tmp_path / "items.sqlite3"), "--data-dir", items_dir)
    run(
        "token",
        "create",
        "--name",
        "shout-token",
        "--app",
        "shoutapp:app",
        "--data-dir",
        shout_dir,
        env=shout,
    )
    restored = run(
        "restore",
        str(tmp_path / "items.sqlite3"),
        "--app",
        "shoutapp:app",
        "--data-dir",
        shout_dir,
        env=shout,
    )
    assert restored.returncode == 1
    assert "another application's tables (items)" in restored.stderr
    listed = run("token", "list", "--app", "shoutapp:app", "--data-dir", shout_dir, env=shout)
    assert "shout-token" in listed.stdout
    assert sorted(p.name for p in (tmp_path / "shout").iterdir() if "restore" in p.name) == []


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("/srv/guestbook", "guestbook"),  # a packed executable, as its launcher execs it
        ("dist/guestbook.pyz", "guestbook.pyz"),
        ("/x/.venv/bin/onebin", "onebin"),
        ("/x/src/guestbook/__main__.py", "guestbook"),  # python -m guestbook
    ],
)
def test_usage_lines_name_the_program_that_runs(argv0, name):
    assert program_name(argv0) == name


def test_a_packed_apps_help_names_it_and_its_default_app(capsys):
    parser = build_parser("guestbook.app:app", "guestbook")
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: guestbook serve")
    assert "env ONEBIN_APP; default guestbook.app:app" in text
    assert "onebin.items" not in text


def test_token_create_admin_is_listed_as_an_admin_token(tmp_path):
    data_dir = str(tmp_path / "data")
    created = run("token", "create", "--admin", "--name", "boss", "--data-dir", data_dir)
    assert created.returncode == 0
    assert "admin token 'boss' created" in created.stderr
    run("token", "create", "--name", "deploy", "--data-dir", data_dir)
    rows = {
        line.split()[0]: line.split()[1]
        for line in run("token", "list", "--data-dir", data_dir).stdout.splitlines()[1:]
    }
    assert rows == {"boss": "admin", "deploy": "write"}


def test_token_list_and_revoke_never_create_a_database(tmp_path):
    for command in (["token", "list"], ["token", "revoke", "me"]):
        result = run(*command, "--data-dir", "nowhere", cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.startswith(
            "onebin: no database at nowhere/onebin.sqlite3: wrong --data-dir?"
        )
    assert not (tmp_path / "nowhere").exists()


def test_backup_into_a_missing_directory_is_refused(tmp_path):
    run("token", "create", "--data-dir", str(tmp_path / "data"))
    result = run(
        "backup", str(tmp_path / "typo" / "b.sqlite3"), "--data-dir", str(tmp_path / "data")
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"onebin: cannot write {tmp_path}/typo/b.sqlite3: {tmp_path}/typo is not a directory"
    )
    assert not (tmp_path / "typo").exists()
