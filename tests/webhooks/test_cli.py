"""``onebin webhook add/list/remove`` against a real data directory (and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onebin.app import DEFAULT_APP, load_app
from onebin.cli import main
from onebin.compose import open_database
from onebin.config import Settings


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path) -> list[str]:
    """The options that name an existing, migrated database, for each engine."""
    options = ["--data-dir", str(tmp_path / "data")]
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        options += ["--database-url", url]
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    open_database(settings, load_app(DEFAULT_APP)).close()
    return options


def webhook(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["webhook", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_add_shows_the_secret_once_and_list_never(where, capsys):
    status, out, err = webhook(
        capsys, "add", "https://example.com/hook", "--events", "item.*,order.placed", *where
    )
    assert status == 0
    fields = dict(line.split(":", 1) for line in out.splitlines())
    secret = fields["secret"].strip()
    assert len(secret) == 64
    assert fields["events"].strip() == "item.*,order.placed"
    assert "shown once; store it now" in err

    status, out, _ = webhook(capsys, "add", "http://127.0.0.1:9000/h", "--json", *where)
    added = json.loads(out)
    assert (added["events"], len(added["secret"])) == (["*"], 64)

    status, out, _ = webhook(capsys, "list", *where)
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "EVENTS", "CREATED", "URL"]
    assert [(line.split()[1], line.split()[3]) for line in lines[1:]] == [
        ("item.*,order.placed", "https://example.com/hook"),
        ("*", "http://127.0.0.1:9000/h"),
    ]
    status, listed, _ = webhook(capsys, "list", "--json", *where)
    assert [hook["id"] for hook in json.loads(listed)] == [int(fields["id"]), added["id"]]
    assert secret not in out + listed
    assert added["secret"] not in out + listed
    assert "secret" not in listed


def test_repeated_events_options_add_up(where, capsys):
    status, out, _ = webhook(
        capsys, "add", "https://example.com/", "--events", "item.*", "--events", "*.deleted",
        "--json", *where,
    )  # fmt: skip
    assert (status, json.loads(out)["events"]) == (0, ["item.*", "*.deleted"])


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("ftp://example.com/", "*", "must start with http:// or https://"),
        ("example.com", "*", "must start with http:// or https://"),
        ("https://", "*", "has no host"),
        ("https://example.com/", "Item.*", "event pattern 'Item.*' must be"),
        ("https://example.com/", "item.?", "event pattern 'item.?' must be"),
    ],
)
def test_a_bad_url_or_pattern_is_one_line_and_a_usage_error(where, capsys, url, events, message):
    status, out, err = webhook(capsys, "add", url, "--events", events, *where)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("onebin: ")
    assert message in err
    assert webhook(capsys, "list", "--json", *where)[1].strip() == "[]"


def test_remove_and_an_unknown_id(where, capsys):
    _, out, _ = webhook(capsys, "add", "https://example.com/", "--json", *where)
    webhook_id = json.loads(out)["id"]
    status, out, _ = webhook(capsys, "remove", str(webhook_id), *where)
    assert (status, out.strip()) == (0, f"webhook {webhook_id} removed (https://example.com/)")
    status, out, err = webhook(capsys, "remove", str(webhook_id), *where)
    assert (status, out) == (1, "")
    assert err == f"onebin: no webhook {webhook_id} (see 'webhook list')\n"


def test_commands_refuse_a_data_dir_without_a_database(tmp_path, capsys):
    status, _, err = webhook(capsys, "list", "--data-dir", str(tmp_path / "nothing"))
    assert status == 1
    assert "no database at" in err
    assert not Path(tmp_path / "nothing").exists()
