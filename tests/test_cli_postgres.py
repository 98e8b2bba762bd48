"""The command line with ``--database-url``: tokens in PostgreSQL, serving from it, and
the SQLite-only commands refusing in one line with what to use instead."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.support import ServerProcess
from tests.test_cli import run


def with_password(url: str) -> str:
    """The same URL with a password (the test server trusts anyone, so it is ignored)."""
    return url.replace("onebin@", "onebin:hunter2@")


def test_token_create_list_revoke_in_postgresql(postgres_url, tmp_path):
    url = with_password(postgres_url)
    created = run("token", "create", "--name", "deploy", "--database-url", url, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("ob_")
    assert f"created in {url.replace('hunter2', '***')}" in created.stderr
    assert "hunter2" not in created.stderr
    assert "did not exist" not in created.stderr
    assert not (tmp_path / "data").exists()  # no data directory for a PostgreSQL run
    env = {**os.environ, "ONEBIN_DATABASE_URL": url}
    listed = run("token", "list", env=env, cwd=tmp_path)
    assert "deploy" in listed.stdout
    assert "active" in listed.stdout
    assert secret not in listed.stdout
    assert run("token", "revoke", "deploy", env=env, cwd=tmp_path).returncode == 0
    assert "revoked" in run("token", "list", env=env, cwd=tmp_path).stdout
    missing = run("token", "revoke", "deploy", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert "it was already revoked at" in missing.stderr


def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(postgres_server):
    url = with_password(postgres_server.url("nosuchdb"))
    result = run("token", "list", "--database-url", url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("onebin: cannot open database postgresql://onebin:***@")
    assert 'database "nosuchdb" does not exist' in lines[0]


def test_an_invalid_url_is_a_usage_error():
    result = run("token", "list", "--database-url", "mysql://u:hunter2@h/db")
    assert result.returncode == 2
    assert result.stderr.startswith("onebin: invalid --database-url: expected a PostgreSQL URL")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("command", "instead"),
    [
        (("backup", "copy.sqlite3"), "pg_dump"),
        (("restore", "copy.sqlite3"), "pg_restore"),
        (("check",), "pg_amcheck"),
    ],
)
def test_sqlite_file_commands_name_what_to_use_with_postgresql(command, instead, tmp_path):
    # From the environment too: a URL set there must not be silently ignored.
    env = {**os.environ, "ONEBIN_DATABASE_URL": "postgresql://onebin@127.0.0.1:1/x"}
    result = run(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"'onebin {command[0]}' works on the SQLite file" in lines[0]
    assert instead in lines[0]
    assert not (tmp_path / "copy.sqlite3").exists()


def test_serve_with_postgresql_answers_and_is_ready(postgres_url, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "wordsapp.py").write_text(WORDS_APP)
    server = ServerProcess(
        tmp_path / "data",
        extra_args=("--app", "wordsapp:app", "--database-url", with_password(postgres_url)),
        env={"PYTHONPATH": f"{code}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )
    try:
        server.start()
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database_write"] == "ok"
        made = run(
            "token",
            "create",
            "--name",
            "t",
            "--app",
            "wordsapp:app",
            "--database-url",
            postgres_url,
            env=server.env,
        )
        assert made.returncode == 0, made.stderr  # the words app's database, not the items'
        token = made.stdout.strip()
        added = httpx.post(
            f"{server.url}/words", json="hello", headers={"authorization": f"Bearer {token}"}
        )
        assert added.status_code == 201, added.text
        assert httpx.get(f"{server.url}/words").json() == ["hello"]
        assert "hunter2" not in server.log()
    finally:
        server.stop()


# A tiny app in portable SQL: its table, a read and a token-guarded write.
WORDS_APP = """
from onebin import App, JsonResponse, Migration, read_json, resource

def routes(context):
    async def listing(request):
        rows = await context.db.read(
            lambda c: c.execute("SELECT word FROM words ORDER BY word").fetchall()
        )
        return JsonResponse([row["word"] for row in rows])

    async def add(request):
        await context.require_token(request)
        word = await read_json(request, str, context.body_limits)
        mark = "%s" if context.db.engine == "postgresql" else "?"
        await context.db.write(
            lambda c: c.execute(f"INSERT INTO words (word) VALUES ({mark})", (word,))
        )
        return JsonResponse(word, 201)

    return [resource("/words", {"GET": listing, "POST": add})]

app = App(
    name="words",
    migrations=[Migration("words", 1, "words", "CREATE TABLE words (word TEXT NOT NULL)")],
    routes=routes,
)
"""
