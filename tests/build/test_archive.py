from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from onebin.build.archive import DEFAULT_EPOCH, sort_zip, source_date_epoch, write_tar_gz
from onebin.errors import BuildError


def make_tree(root: Path, mtime: int, mode: int) -> Path:
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "b" / "deep" / "c.bin").write_bytes(bytes(range(256)))
    tool = root / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (root / "b" / "deep" / "c.bin").chmod(mode)
    for path in [*root.rglob("*"), root]:
        os.utime(path, (mtime, mtime))
    return root


def test_source_date_epoch_defaults_and_validates():
    assert source_date_epoch({}) == DEFAULT_EPOCH
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1_700_000_000
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "5"}) == DEFAULT_EPOCH  # zip cannot go lower
    with pytest.raises(BuildError):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_write_tar_gz_is_identical_whatever_the_file_times_and_umask(tmp_path):
    first = write_tar_gz(make_tree(tmp_path / "one", 1_000_000_000, 0o600), DEFAULT_EPOCH)
    second = write_tar_gz(make_tree(tmp_path / "two", 1_700_000_000, 0o640), DEFAULT_EPOCH)
    assert first == second


def test_write_tar_gz_sorts_entries_and_stamps_them(tmp_path):
    tree = make_tree(tmp_path / "tree", 1_000_000_000, 0o600)
    payload = write_tar_gz(tree, 1_234_567_890)
    with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["a.txt", "b", "b/deep", "b/deep/c.bin", "tool"]
        assert {m.mtime for m in members} == {1_234_567_890}
        assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
        modes = {m.name: m.mode for m in members}
        assert modes == {
            "a.txt": 0o644,
            "b": 0o755,
            "b/deep": 0o755,
            "b/deep/c.bin": 0o644,
            "tool": 0o755,
        }
        assert tar.extractfile("b/deep/c.bin").read() == bytes(range(256))
    # gzip header: no file name flag, no modification time.
    assert payload[3] == 0
    assert payload[4:8] == bytes(4)


def test_sort_zip_makes_entry_order_and_times_repeatable(tmp_path):
    def write(path: Path, names: list[str]) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in names:
                archive.writestr(name, name * 10)
        return path

    one = write(tmp_path / "one.zip", ["b.pyc", "a.pyc", "c/d.pyc"])
    two = write(tmp_path / "two.zip", ["c/d.pyc", "b.pyc", "a.pyc"])
    assert one.read_bytes() != two.read_bytes()
    sort_zip(one, DEFAULT_EPOCH)
    sort_zip(two, DEFAULT_EPOCH)
    assert one.read_bytes() == two.read_bytes()
    with zipfile.ZipFile(one) as archive:
        assert archive.namelist() == ["a.pyc", "b.pyc", "c/d.pyc"]
        assert archive.read("c/d.pyc") == b"c/d.pyc" * 10
        assert archive.getinfo("a.pyc").compress_type == zipfile.ZIP_DEFLATED
