"""The self-extracting launcher, run for real by /bin/sh on a tiny program."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from onebin.build.archive import DEFAULT_EPOCH, write_tar_gz
from onebin.build.launcher import check_name, launcher, payload
from onebin.errors import BuildError

PROGRAM = '#!/bin/sh\necho "ran $(dirname "$0") with $*"\n'


@pytest.fixture
def program(tmp_path: Path) -> tuple[Path, bytes]:
    tree = tmp_path / "tree"
    (tree / "_internal").mkdir(parents=True)
    (tree / "_internal" / "data.txt").write_text("payload data")
    (tree / "demo").write_text(PROGRAM)
    (tree / "demo").chmod(0o755)
    payload = write_tar_gz(tree, DEFAULT_EPOCH)
    executable = tmp_path / "bin" / "demo"
    executable.parent.mkdir()
    executable.write_bytes(launcher("demo", payload))
    executable.chmod(0o755)
    return executable, payload


def run(executable: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(
        [str(executable), *args], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def test_launcher_unpacks_once_into_a_directory_named_by_the_payload_hash(program, tmp_path):
    executable, payload = program
    cache = tmp_path / "cache"
    first = run(executable, cache, "serve", "--port", "1")
    target = cache / "demo" / hashlib.sha256(payload).hexdigest()
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"ran {target} with serve --port 1\n"
    assert (target / "_internal" / "data.txt").read_text() == "payload data"
    (target / "_internal" / "marker").write_text("left by the first start")
    second = run(executable, cache, "again")
    assert second.stdout == f"ran {target} with again\n"
    assert (target / "_internal" / "marker").exists()  # not unpacked a second time
    assert len(list((cache / "demo").iterdir())) == 2  # the published tree and its link


def test_launcher_racing_first_starts_all_run_a_complete_tree(program, tmp_path):
    executable, payload = program
    cache = tmp_path / "cache"
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache)}
    starts = [
        subprocess.Popen([str(executable), str(n)], stdout=subprocess.PIPE, text=True, env=env)
        for n in range(6)
    ]
    outputs = [start.communicate(timeout=30)[0] for start in starts]
    target = cache / "demo" / hashlib.sha256(payload).hexdigest()
    assert [start.returncode for start in starts] == [0] * 6
    assert outputs == [f"ran {target} with {n}\n" for n in range(6)]
    assert target.is_symlink()
    assert len(list((cache / "demo").iterdir())) == 2  # losers removed their copies


def test_launcher_reports_a_damaged_payload(program, tmp_path):
    executable, _ = program
    executable.write_bytes(executable.read_bytes()[:-200])
    result = run(executable, tmp_path / "cache", "x")
    assert result.returncode == 1
    assert "could not unpack" in result.stderr
    assert list((tmp_path / "cache" / "demo").iterdir()) == []


def test_launcher_says_which_setting_fixes_a_cache_it_cannot_create(program, tmp_path):
    """A service user whose HOME does not exist gets advice, not mkdir's bare error."""
    executable, _ = program
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    result = run(executable, blocked, "x")
    assert result.returncode == 1
    assert result.stderr == (
        f"demo: cannot create {blocked}/demo: set XDG_CACHE_HOME to a writable directory\n"
    )
    assert result.stdout == ""


def test_launcher_refuses_a_name_the_shell_would_misread():
    with pytest.raises(BuildError):
        launcher("demo; rm -rf /", b"")


def test_check_name_takes_what_the_shell_header_can_hold():
    assert check_name("tiny") == "tiny"
    assert check_name("my-app_2") == "my-app_2"
    for bad in ("Tiny", "-x", "a b", "a/b", "", "x$(id)"):
        with pytest.raises(BuildError):
            check_name(bad)


def test_payload_is_what_the_launcher_was_given(program):
    """The portable build unpacks the executable it built to check its files."""
    executable, data = program
    assert payload(executable.read_bytes()) == data
    assert payload(launcher("demo", b"line one\nline two\n")) == b"line one\nline two\n"
    assert payload(launcher("demo", b"")) == b""


def test_payload_refuses_a_file_onebin_did_not_write():
    with pytest.raises(BuildError, match="not an executable written by onebin build"):
        payload(b"\x7fELF\x02\x01\x01" + b"\0" * 64)
    with pytest.raises(BuildError):
        payload(b"#!/bin/sh\necho a short script\n")
