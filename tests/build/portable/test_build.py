"""The portable build's cache keys and the settings it carries into the build root."""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path

from onebin.build.portable.build import (
    MANYLINUX_POLICY,
    ca_bundle,
    default_cache,
    exclusive,
    pinned,
    pip_environment,
    toolchain_key,
    venv_key,
)
from onebin.build.portable.root import CA_BUNDLE
from tests.support import wait_until

SCRIPT = "#!/bin/sh\nmake\n"
LOCK = "zlib 1:1.3-1\n"


def test_toolchain_key_is_stable_for_the_same_inputs():
    assert toolchain_key(SCRIPT, LOCK, "x86_64") == toolchain_key(SCRIPT, LOCK, "x86_64")


def test_toolchain_key_changes_with_the_script_the_lock_or_the_machine():
    key = toolchain_key(SCRIPT, LOCK, "x86_64")
    changed = {
        toolchain_key(SCRIPT + "make install\n", LOCK, "x86_64"),
        toolchain_key(SCRIPT, "zlib 1:1.3-2\n", "x86_64"),
        toolchain_key(SCRIPT, LOCK, "aarch64"),
    }
    assert key not in changed
    assert len(changed) == 3


def test_toolchain_key_tells_where_the_lock_ends_and_the_script_begins():
    """A line moved from the lock's end to the script's start is a different toolchain."""
    assert toolchain_key("y", "x\n", "x86_64") != toolchain_key("\ny", "x", "x86_64")


def test_venv_key_ignores_the_order_of_requirements_but_not_their_versions():
    key = venv_key("abc", ["starlette==1.0", "uvicorn==0.5"])
    assert venv_key("abc", ["uvicorn==0.5", "starlette==1.0"]) == key
    assert venv_key("abc", ["uvicorn==0.6", "starlette==1.0"]) != key
    assert venv_key("abd", ["starlette==1.0", "uvicorn==0.5"]) != key


def test_pinned_lists_the_packers_and_the_runtime_closure_at_their_installed_versions():
    requirements = pinned(["onebin"], metadata.version)
    versions = dict(requirement.split("==") for requirement in requirements)
    by_name = {name.lower(): version for name, version in versions.items()}
    for name in ("pyinstaller", "brotli", "cryptography", "uvicorn", "starlette"):
        assert by_name[name] == metadata.version(name)
    assert "onebin" not in by_name  # copied from the host, not installed from PyPI
    assert not {"pytest", "ruff", "playwright"} & set(by_name)
    assert len(by_name) == len(requirements)  # each distribution once


def test_pip_environment_passes_a_network_index_and_the_copied_ca_bundle():
    env = pip_environment({"PIP_INDEX_URL": "https://pypi.example.com/simple"})
    assert env["PIP_INDEX_URL"] == "https://pypi.example.com/simple"
    assert env["PIP_CERT"] == f"/{CA_BUNDLE}"


def test_pip_environment_leaves_out_an_index_the_root_cannot_see():
    env = pip_environment({"PIP_INDEX_URL": "file:///srv/wheels"})
    assert "PIP_INDEX_URL" not in env
    assert env["PIP_CERT"] == f"/{CA_BUNDLE}"
    assert "PIP_INDEX_URL" not in pip_environment({})


def test_ca_bundle_prefers_pip_cert_and_skips_missing_files(tmp_path):
    pip_cert = tmp_path / "pip.crt"
    ssl_cert = tmp_path / "ssl.crt"
    pip_cert.write_text("pip")
    ssl_cert.write_text("ssl")
    assert ca_bundle({"PIP_CERT": str(pip_cert), "SSL_CERT_FILE": str(ssl_cert)}) == pip_cert
    missing = str(tmp_path / "missing.crt")
    assert ca_bundle({"PIP_CERT": missing, "SSL_CERT_FILE": str(ssl_cert)}) == ssl_cert
    fallback = ca_bundle({"PIP_CERT": missing})
    assert fallback is None or fallback.is_file()


def test_default_cache_follows_xdg_cache_home_then_home():
    expected = Path("/xdg/onebin-build/portable")
    assert default_cache({"XDG_CACHE_HOME": "/xdg", "HOME": "/home/me"}) == expected
    home = Path("/home/me/.cache/onebin-build/portable")
    assert default_cache({"XDG_CACHE_HOME": "", "HOME": "/home/me"}) == home
    assert default_cache({}) == Path("/root/.cache/onebin-build/portable")


def test_the_virtualenvs_manylinux_policy_refuses_wheels_above_the_glibc_limit():
    """pip in the glibc 2.31 root would take a manylinux_2_31 wheel without it."""
    policy: dict[str, object] = {}
    exec(MANYLINUX_POLICY, policy)
    compatible = policy["manylinux_compatible"]
    assert compatible(2, 28, "x86_64")
    assert compatible(2, 17, "x86_64")
    assert not compatible(2, 29, "x86_64")
    assert not compatible(2, 31, "x86_64")
    assert venv_key("abc", []) != venv_key("abd", [])


def test_a_second_build_waits_for_the_first_to_finish(tmp_path: Path):
    """Builds share the cache: the second says it waits, and starts only after the first."""
    lock = tmp_path / "cache" / "lock"
    said: list[str] = []
    first_in, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with exclusive(lock, said.append):
            first_in.set()
            release.wait(10)

    def second() -> None:
        with exclusive(lock, said.append):
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_in.wait(10)
    threads[1].start()
    wait_until(lambda: said, what="the second build to say it waits")
    assert said == [f"waiting for another portable build to finish ({lock})"]
    assert not second_in.is_set()
    release.set()
    assert second_in.wait(10)
    for thread in threads:
        thread.join(10)
