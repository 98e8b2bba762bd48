"""``onebin migrate-data`` from the command line, and backups in PostgreSQL mode
(pg_dump and pg_restore, as the README says), on real servers and the real PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.postgres import find_binaries
from tests.support import ServerProcess, wait_until
from tests.test_cli import run


def add_item(server: ServerProcess, token: str, name: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/items",
        json={"name": name, "description": f"about {name}"},
        headers={"authorization": f"Bearer {token}"},
    )


def found(server: ServerProcess, word: str, mode: str = "text") -> list[str]:
    page = httpx.get(f"{server.url}/api/items", params={"q": word, "mode": mode})
    assert page.status_code == 200, page.text
    return sorted(item["name"] for item in page.json()["items"])


def serving(data_dir: Path, url: str | None = None) -> ServerProcess:
    extra = ("--database-url", url) if url else ()
    return ServerProcess(data_dir, extra_args=extra).start()


def test_migrate_data_moves_a_data_directory_to_postgresql_and_back(postgres_url, tmp_path):
    data = tmp_path / "data"
    token = run("token", "create", "--name", "deploy", "--data-dir", str(data)).stdout.strip()
    server = serving(data)
    try:
        for name in ("Café crème", "Tea", "Water"):
            assert add_item(server, token, name).status_code == 201
        busy = run("migrate-data", "--to", postgres_url, "--data-dir", str(data))
        assert busy.returncode == 1
        assert "in use by a running onebin process; stop it first" in busy.stderr
    finally:
        server.stop()

    moved = run("migrate-data", "--to", postgres_url, "--data-dir", str(data))
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith(f"copied {data / 'onebin.sqlite3'} to {postgres_url}\n")
    assert "items" in moved.stdout
    assert "counts and checksums match" in moved.stdout

    again = run("migrate-data", "--to", postgres_url, "--data-dir", str(data))
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"onebin: {postgres_url} is not empty: table items has rows; migrate-data copies "
        "only into an empty database"
    ]

    server = serving(tmp_path / "pg-run", postgres_url)
    try:
        assert found(server, "cafe") == ["Café crème"]  # search works on the copy
        # and by meaning: the vectors (or the marks of rows still to embed) came along
        wait_until(lambda: len(found(server, "a hot drink", mode="semantic")) == 3)
        added = add_item(server, token, "Milk")  # the token made before the move
        assert added.status_code == 201, added.text
        assert added.json()["id"] == 4  # after the copied ids
    finally:
        server.stop()

    back = tmp_path / "back"
    returned = run("migrate-data", "--from", postgres_url, "--to-data-dir", str(back))
    assert returned.returncode == 0, returned.stderr
    server = serving(back)
    try:
        assert found(server, "about") == ["Café crème", "Milk", "Tea", "Water"]
        assert add_item(server, token, "Juice").json()["id"] == 5
    finally:
        server.stop()
    refused = run("migrate-data", "--from", postgres_url, "--to-data-dir", str(back))
    assert refused.returncode == 1
    assert f"onebin: {back} is not empty (" in refused.stderr


def test_files_a_copy_cannot_carry_are_named(postgres_url, tmp_path):
    data = tmp_path / "data"
    assert run("token", "create", "--data-dir", str(data)).returncode == 0
    (data / "tls" / "acme-v02").mkdir(parents=True)
    moved = run("migrate-data", "--to", postgres_url, "--data-dir", str(data))
    assert moved.returncode == 0, moved.stderr
    assert f"note: not copied: {data / 'tls'}: certificates and the ACME account" in moved.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("--to-data-dir", "d"),
        ("--to", "postgresql://h/db", "--to-data-dir", "d"),
        ("--from", "postgresql://h/db"),
        ("--to", "mysql://h/db"),
    ],
)
def test_migrate_data_usage_errors_are_one_line(argv, tmp_path):
    result = run("migrate-data", *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) <= 3  # argparse adds its usage line
    assert not (tmp_path / "d").exists()
    assert not (tmp_path / "data").exists()


def test_a_missing_source_database_is_refused(postgres_url, tmp_path):
    result = run("migrate-data", "--to", postgres_url, "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "no database at" in result.stderr


def test_pg_dump_and_pg_restore_bring_back_items_and_tokens(
    postgres_server, postgres_url, tmp_path
):
    # Exactly what the README says to run.
    tools = find_binaries()
    created = run("token", "create", "--name", "deploy", "--database-url", postgres_url)
    token = created.stdout.strip()
    server = serving(tmp_path / "run", postgres_url)
    try:
        for name in ("Café crème", "Tea"):
            assert add_item(server, token, name).status_code == 201
    finally:
        server.stop()
    dump = tmp_path / "onebin.dump"
    subprocess.run([tools / "pg_dump", "-Fc", "-f", dump, postgres_url], check=True)

    postgres_server.drop_database(postgres_url)
    postgres_server.admin(f"CREATE DATABASE {postgres_url.rpartition('/')[2]} TEMPLATE template0")
    restore = [tools / "pg_restore", "--clean", "--if-exists", "--no-owner", "-d", postgres_url]
    subprocess.run([*restore, dump], check=True, capture_output=True)

    server = serving(tmp_path / "run", postgres_url)
    try:
        assert found(server, "cafe") == ["Café crème"]
        added = add_item(server, token, "Water")  # the token, and the identity sequence
        assert added.status_code == 201, added.text
        assert added.json()["id"] == 3
    finally:
        server.stop()
    # Over a database that changed since the dump: --clean puts it back as it was.
    subprocess.run([*restore, dump], check=True, capture_output=True)
    server = serving(tmp_path / "run", postgres_url)
    try:
        assert found(server, "about") == ["Café crème", "Tea"]
    finally:
        server.stop()


def test_an_unreachable_target_is_one_line_without_the_password(postgres_server, tmp_path):
    data = tmp_path / "data"
    assert run("token", "create", "--data-dir", str(data)).returncode == 0
    url = postgres_server.url("nosuchdb").replace("onebin@", "onebin:hunter2@")
    result = run("migrate-data", "--to", url, "--data-dir", str(data))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("onebin: cannot open database postgresql://onebin:***@")
    assert "hunter2" not in result.stderr
