"""Byte-for-byte repeatable tar.gz archives of a directory.

Two builds of the same commit must give the same bytes, so nothing about the build
machine or the moment may leak in: entries are sorted, every timestamp is
``SOURCE_DATE_EPOCH`` (the reproducible-builds.org convention), owners are root,
permissions are reduced to "executable or not", and the gzip header carries neither
a file name nor a time.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

from onebin.errors import BuildError

# 1980-01-01, the earliest time a zip entry can hold; used when SOURCE_DATE_EPOCH is unset.
DEFAULT_EPOCH = 315_532_800


def source_date_epoch(environ: Mapping[str, str]) -> int:
    raw = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return DEFAULT_EPOCH
    if not raw.isdigit():
        raise BuildError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {raw!r}")
    return max(int(raw), DEFAULT_EPOCH)


def tree_entries(root: Path) -> list[Path]:
    """Every path under ``root``, parents before children, in a fixed (sorted) order."""
    entries = [
        Path(directory) / name
        for directory, dirnames, filenames in os.walk(root)  # does not follow symlinks
        for name in [*dirnames, *filenames]
    ]
    return sorted(entries, key=lambda path: path.relative_to(root).parts)


def _normalized(info: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    executable = info.isdir() or info.mode & 0o111
    info.mode = 0o755 if executable else 0o644
    return info


def write_tar_gz(root: Path, epoch: int) -> bytes:
    """The contents of ``root`` as a repeatable gzip-compressed tar."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for path in tree_entries(root):
            info = _normalized(tar.gettarinfo(path, path.relative_to(root).as_posix()), epoch)
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def sort_zip(path: Path, epoch: int) -> None:
    """Rewrite a zip with its entries sorted and stamped ``epoch``, contents unchanged.

    PyInstaller writes ``base_library.zip`` in an order that changes from build to
    build; this is the only part of its output that does.
    """
    date_time = time.gmtime(epoch)[:6]
    with zipfile.ZipFile(path) as source:
        entries = sorted(
            ((info, source.read(info)) for info in source.infolist()),
            key=lambda entry: entry[0].filename,
        )
    with zipfile.ZipFile(path, "w") as target:
        for info, data in entries:
            repeatable = zipfile.ZipInfo(info.filename, date_time)
            repeatable.compress_type = info.compress_type
            repeatable.external_attr = info.external_attr
            target.writestr(repeatable, data)
