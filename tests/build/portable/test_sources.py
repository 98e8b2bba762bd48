"""The toolchain's sources: the lock file, and the private apt state that fetches them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from onebin.build.portable.sources import (
    MIRROR,
    SECURITY_MIRROR,
    SourcePackage,
    apt_options,
    fetch_sources,
    lock_text,
    parse_lock,
    sources_list,
)
from onebin.errors import BuildError


def test_parse_lock_skips_comments_and_blank_lines():
    text = "# the sources\n\nzlib 1:1.3-1  # trailing comment\n   \nexpat 2.5.0-1\n"
    assert parse_lock(text) == [SourcePackage("zlib", "1:1.3-1"), SourcePackage("expat", "2.5.0-1")]


def test_parse_lock_names_the_line_it_cannot_read():
    with pytest.raises(BuildError, match=r"sources\.lock line 3: expected 'name version'"):
        parse_lock("# header\nzlib 1.3-1\nexpat\n")
    with pytest.raises(BuildError, match=r"line 1:.*'openssl 3\.5 extra'"):
        parse_lock("openssl 3.5 extra\n")


def test_the_shipped_lock_pins_every_library_the_toolchain_builds():
    packages = {package.name: package.version for package in parse_lock(lock_text())}
    assert {"python3.11", "openssl", "sqlite3", "expat", "zlib"} <= set(packages)
    assert packages["python3.11"].startswith("3.11.")
    assert all(version[0].isdigit() for version in packages.values())


def test_dsc_is_named_without_the_epoch():
    assert SourcePackage("zlib", "1:1.3.dfsg+really1.3.1-1").dsc == (
        "zlib_1.3.dfsg+really1.3.1-1.dsc"
    )
    assert SourcePackage("expat", "2.5.0-1+deb12u2").dsc == "expat_2.5.0-1+deb12u2.dsc"


def test_sources_list_has_each_release_with_its_updates_and_security_fixes():
    lines = sources_list().splitlines()
    for suite in ("bookworm", "trixie"):
        assert f"deb-src {MIRROR} {suite} main" in lines
        assert f"deb-src {MIRROR} {suite}-updates main" in lines
        assert f"deb-src {SECURITY_MIRROR} {suite}-security main" in lines
    assert all(line.startswith("deb-src ") for line in lines)


def test_apt_options_keep_apt_state_under_the_given_directory(tmp_path):
    options = apt_options(tmp_path)
    settings = dict(value.split("=", 1) for value in options[1::2])
    assert options[::2] == ["-o"] * len(settings)
    assert settings["Dir::Etc::SourceList"] == str(tmp_path / "sources.list")
    assert settings["Dir::Etc::SourceParts"] == "/dev/null"  # not the host's sources.list.d
    for key in ("Dir::State::Lists", "Dir::Cache"):
        assert Path(settings[key]).is_relative_to(tmp_path)


def test_fetch_sources_unpacks_only_what_is_not_unpacked_yet(tmp_path):
    """The commands fetch_sources runs, recorded: apt and dpkg-source need the network."""
    commands: list[list[str]] = []

    def run(command: Sequence[str]) -> None:
        commands.append(list(command))

    packages = [SourcePackage("zlib", "1:1.3-1"), SourcePackage("expat", "2.5.0-1")]
    (tmp_path / "src" / "expat").mkdir(parents=True)

    unpacked = fetch_sources(packages, tmp_path, run)

    assert unpacked == tmp_path / "src"
    assert (tmp_path / "apt" / "sources.list").read_text() == sources_list()
    assert commands[0][0] == "apt-get"
    assert commands[0][-1] == "update"
    assert commands[1][-2:] == ["zlib=1:1.3-1", "expat=2.5.0-1"]
    assert commands[2:] == [
        ["dpkg-source", "--no-check", "-x", str(tmp_path / "downloads" / "zlib_1.3-1.dsc"),
         str(tmp_path / "src" / "zlib")],
    ]  # fmt: skip
