"""The build root: what the host must have, and how commands enter the root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from onebin.build.portable.root import (
    CA_BUNDLE,
    PATH,
    BuildRoot,
    enter_command,
    missing_tools,
    run_logged,
)
from onebin.errors import BuildError

TOOLS = ("debootstrap", "unshare", "chroot", "apt-get", "dpkg-source", "objdump")
ALL_PRESENT = {tool: f"/usr/bin/{tool}" for tool in TOOLS}


def test_missing_tools_is_empty_for_root_with_every_tool():
    assert missing_tools(True, ALL_PRESENT) == []


def test_missing_tools_asks_for_root():
    assert missing_tools(False, ALL_PRESENT) == [
        "run as root: the build root needs chroot and mounts"
    ]


def test_missing_tools_names_the_debian_packages_to_install():
    assert missing_tools(True, {}) == [
        "install apt binutils coreutils debootstrap dpkg-dev util-linux"
        " (apt-get install apt binutils coreutils debootstrap dpkg-dev util-linux)"
    ]
    which = {**ALL_PRESENT, "dpkg-source": None, "debootstrap": None}
    assert missing_tools(True, which) == [
        "install debootstrap dpkg-dev (apt-get install debootstrap dpkg-dev)"
    ]
    problems = missing_tools(False, {**ALL_PRESENT, "objdump": None, "unshare": None})
    assert len(problems) == 2
    assert problems[1] == "install binutils util-linux (apt-get install binutils util-linux)"


def test_enter_command_runs_the_command_last_with_only_the_given_environment(tmp_path):
    command = enter_command(tmp_path, ["make", "-j2"], {"SOURCES": "/build/src"})
    assert command[:2] == ["unshare", "--mount"]
    assert str(tmp_path) in command
    env = command.index("/usr/bin/env")
    assert command[env + 1] == "-i"  # nothing of the host's environment
    assert command[env + 2 : -2] == [f"PATH={PATH}", "HOME=/root", "SOURCES=/build/src"]
    assert command[-2:] == ["make", "-j2"]


def test_enter_command_lets_the_caller_override_path_and_home(tmp_path):
    command = enter_command(tmp_path, ["true"], {"PATH": "/opt/bin", "HOME": "/build"})
    assignments = [word for word in command if re.fullmatch(r"[A-Z_]+=.*", word)]
    assert assignments == ["PATH=/opt/bin", "HOME=/build"]


def test_run_logged_appends_output_and_fails_with_its_tail(tmp_path):
    log = tmp_path / "build.log"
    log.write_text("earlier\n")
    run_logged(["sh", "-c", "echo configured"], log)
    with pytest.raises(BuildError) as raised:
        run_logged(["sh", "-c", "echo 'cc: error: no such file' >&2; exit 3"], log)
    assert str(raised.value).startswith(f"sh failed (3); the end of {log}:")
    assert "cc: error: no such file" in str(raised.value)
    text = log.read_text()
    assert text.startswith("earlier\n")
    assert text.index("configured") < text.index("cc: error")


def tiny_root(path: Path, programs: list[str]) -> Path:
    """A root holding ``programs`` and the shared libraries they load, at the host's paths."""
    for program in programs:
        listed = subprocess.run(["ldd", program], capture_output=True, text=True, check=True)
        libraries = re.findall(r"(/\S+) \(0x", listed.stdout)
        for source in [program, *libraries]:
            target = path / source.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(source), target)
    for directory in ("dev", "proc", "etc"):
        (path / directory).mkdir(exist_ok=True)
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="entering a root needs root")
def test_build_root_runs_inside_with_dev_and_proc_that_end_with_the_command(tmp_path):
    if shutil.which("unshare") is None or shutil.which("ldd") is None:
        pytest.skip("needs unshare and ldd")
    root_path = tiny_root(tmp_path / "root", ["/usr/bin/env", "/bin/cat"])
    bundle = tmp_path / "host-ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    log = tmp_path / "root.log"
    root = BuildRoot(root_path, log, bundle)

    root.run(["/usr/bin/env"], {"SOURCES": "/build/src"})
    root.run(["/bin/cat", "/proc/version", f"/{CA_BUNDLE}"])
    root.run(["/bin/cat", "/dev/null"])

    output = log.read_text()
    environment = re.findall(r"^[A-Z_]+=.*$", output, re.MULTILINE)
    assert environment == [f"PATH={PATH}", "HOME=/root", "SOURCES=/build/src"]
    assert Path("/proc/version").read_text() in output  # /proc was mounted inside
    assert "-----BEGIN CERTIFICATE-----" in output  # the host's CA bundle was copied in
    # The mounts ended with the commands: nothing leads from the root into the host's.
    assert list((root_path / "dev").iterdir()) == []
    assert list((root_path / "proc").iterdir()) == []
    with pytest.raises(BuildError, match="unshare failed"):
        root.run(["/bin/cat", "/no/such/file"])
