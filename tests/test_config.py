from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from onebin.config import (
    SETTINGS,
    Settings,
    add_arguments,
    all_addresses,
    build_settings,
    unknown_variables,
)
from onebin.errors import ConfigError


def flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_when_nothing_is_given():
    settings = build_settings(flags(), environ={})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.data_dir) == (None, 8000, Path("data"))
    assert settings.listen_host == "127.0.0.1"
    assert settings.app is None


def test_environment_is_read_and_flag_wins():
    env = {"ONEBIN_PORT": "9001", "ONEBIN_DATA_DIR": "/tmp/x", "ONEBIN_HOST": "0.0.0.0"}
    settings = build_settings(flags("--port", "9002"), environ=env)
    assert settings.port == 9002
    assert settings.data_dir == Path("/tmp/x")
    assert settings.host == "0.0.0.0"


def test_repeatable_domain_from_flags_and_env():
    assert build_settings(flags("--domain", "A.test", "--domain", "b.test"), environ={}).domain == (
        "a.test",
        "b.test",
    )
    assert build_settings(flags(), environ={"ONEBIN_DOMAIN": "a.test,b.test"}).domain == (
        "a.test",
        "b.test",
    )


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (("--port", "eighty"), {}, "invalid --port"),
        ((), {"ONEBIN_PORT": "70000"}, "invalid ONEBIN_PORT"),
        (("--max-body-bytes", "0"), {}, "at least 1"),
        (("--log-level", "loud"), {}, "debug, info"),
        (("--domain", "bad_domain!"), {}, "not a valid domain"),
        (("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"), {}, "not found"),
        (("--tls-cert", "/etc/hostname"), {}, "given together"),
        (("--sqlite-synchronous", "OFF"), {}, "FULL or NORMAL"),
        ((), {"ONEBIN_ACME_STAGING": "maybe"}, "not a boolean"),
        ((), {"ONEBIN_CORS_ORIGINS": "example.com"}, "not an origin"),
    ],
)
def test_invalid_settings_raise_config_error(argv, env, message):
    with pytest.raises(ConfigError, match=message):
        build_settings(flags(*argv), environ=env)


def test_data_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        build_settings(flags("--data-dir", str(blocker)), environ={})


def test_every_setting_has_a_flag_env_and_settings_field():
    fields = set(Settings.__dataclass_fields__)
    assert {option.name for option in SETTINGS} == fields
    for option in SETTINGS:
        assert option.env == "ONEBIN_" + option.name.upper()


def test_a_domain_listens_on_every_address_unless_a_host_is_given():
    assert build_settings(flags("--domain", "example.com"), environ={}).listen_host in (
        "::",
        "0.0.0.0",
    )
    assert Settings(domain=("example.com",)).listen_host == all_addresses()
    given = build_settings(flags("--domain", "example.com", "--host", "10.0.0.5"), environ={})
    assert given.listen_host == "10.0.0.5"
    assert Settings(host="::1").listen_host == "::1"


def test_help_names_both_defaults_of_host():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "default 127.0.0.1, or all addresses with --domain]" in text


def test_app_is_a_setting_checked_for_its_syntax():
    assert build_settings(flags("--app", "guestbook.app:app"), environ={}).app == (
        "guestbook.app:app"
    )
    assert build_settings(flags(), environ={"ONEBIN_APP": "shop:api"}).app == "shop:api"
    with pytest.raises(ConfigError, match=r"invalid ONEBIN_APP: expected MODULE:ATTRIBUTE"):
        build_settings(flags(), environ={"ONEBIN_APP": "guestbook.app"})


def test_unknown_variables_name_the_closest_setting():
    environ = {
        "ONEBIN_PROT": "9000",
        "ONEBIN_DATADIR": "/srv",
        "ONEBIN_PORT": "8000",
        "ONEBIN_ZZZZZZ": "1",
        "PATH": "/usr/bin",
        "onebin_prot": "lower case is another variable",
    }
    assert unknown_variables(environ) == [
        "ONEBIN_DATADIR is not an onebin setting (did you mean ONEBIN_DATA_DIR?)",
        "ONEBIN_PROT is not an onebin setting (did you mean ONEBIN_PORT?)",
        "ONEBIN_ZZZZZZ is not an onebin setting",
    ]


def test_every_setting_and_no_other_variable_is_silent():
    assert unknown_variables({option.env: "x" for option in SETTINGS}) == []
    assert unknown_variables({"HOME": "/root", "ONEBIN": "1"}) == []


def test_database_url_from_flag_or_env_is_kept_out_of_repr():
    url = "postgresql://onebin:secret@db.internal/onebin"
    settings = build_settings(flags(), environ={"ONEBIN_DATABASE_URL": url})
    assert settings.database_url == url
    assert "secret" not in repr(settings)
    assert settings.database_location == "postgresql://onebin:***@db.internal/onebin"
    assert build_settings(flags("--database-url", "postgres://h/x"), environ={}).database_url == (
        "postgres://h/x"
    )
    assert build_settings(flags(), environ={}).database_url is None


def test_database_url_refuses_other_schemes_and_scheduled_file_backups():
    with pytest.raises(ConfigError, match=r"invalid --database-url: expected a PostgreSQL URL"):
        build_settings(flags("--database-url", "sqlite:///x"), environ={})
    with pytest.raises(ConfigError, match="with --database-url back up PostgreSQL with pg_dump"):
        build_settings(
            flags("--database-url", "postgresql://h/x", "--backup-every", "6h"), environ={}
        )
