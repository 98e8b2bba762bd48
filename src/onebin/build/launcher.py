"""The self-extracting launcher: one file that unpacks once and then just execs.

A PyInstaller one-file executable unpacks its whole runtime into a fresh temporary
directory on every start and deletes it on exit; measured here that is most of
its start-up time. The launcher instead carries a one-directory build as a tar.gz
behind a short POSIX shell header. The first start unpacks it into a cache
directory named after the payload's SHA-256 (so a new build never reuses an old
tree); every later start is one ``exec`` into the unpacked program. Unpacking goes
to a private temporary directory first and is published with ``ln -sn``, which is
atomic, so two first starts racing each other both end up running a complete tree.
The host needs only ``sh``, ``tail``, ``gzip``, ``tar`` and ``mktemp``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

from onebin.errors import BuildError

HEADER = """\
#!/bin/sh
# {name}: a self-extracting executable. Below this header is a tar.gz of the
# program; the first start unpacks it into a cache directory named after its
# SHA-256, later starts exec straight into that directory.
set -eu
payload_sha256={digest}
payload_line={payload_line}
cache="${{XDG_CACHE_HOME:-${{HOME:?set HOME or XDG_CACHE_HOME}}/.cache}}/{name}"
target="$cache/$payload_sha256"
if [ ! -x "$target/{name}" ]; then
    if ! mkdir -p "$cache" 2>/dev/null; then
        echo "{name}: cannot create $cache: set XDG_CACHE_HOME to a writable directory" >&2
        exit 1
    fi
    staging=$(mktemp -d "$cache/.$payload_sha256.XXXXXX")
    if ! tail -n "+$payload_line" "$0" | gzip -dc | tar -xf - -C "$staging"; then
        rm -rf "$staging"
        echo "{name}: could not unpack into $cache" >&2
        exit 1
    fi
    # ln is atomic: if another first start published its tree already, use that one
    # (-n: an existing link to a directory is a name taken, not a place to link into).
    ln -sn "${{staging##*/}}" "$target" 2>/dev/null || rm -rf "$staging"
fi
exec "$target/{name}" "$@"
"""

_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def check_name(name: str) -> str:
    """``name`` if it can name the executable, its cache directory and the shell's lines.

    The header writes the name into shell code unquoted, so only a-z, 0-9, ``-`` and
    ``_`` are allowed; checked before a build starts, not a minute into it.
    """
    if not _SAFE_NAME.fullmatch(name):
        raise BuildError(f"{name!r} cannot name an executable (use a-z, 0-9, - and _)")
    return name


def launcher(name: str, payload: bytes) -> bytes:
    """The executable's bytes: the shell header, then ``payload`` (a tar.gz of the program).

    ``name`` is both the cache directory's and the unpacked program's name.
    """
    check_name(name)
    digest = hashlib.sha256(payload).hexdigest()
    lines = HEADER.count("\n")
    header = HEADER.format(name=name, digest=digest, payload_line=lines + 1)
    return header.encode() + payload


def payload(executable: bytes) -> bytes:
    """The tar.gz behind an executable's header: what ``launcher`` was given."""
    lines = HEADER.count("\n")
    parts = executable.split(b"\n", lines)
    if len(parts) <= lines or parts[0] != b"#!/bin/sh":
        raise BuildError("not an executable written by onebin build")
    return parts[lines]


def unpack(executable: Path, into: Path) -> None:
    """Unpack an executable's program tree into ``into``, as its first start would."""
    data = gzip.decompress(payload(executable.read_bytes()))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        # Python before 3.11.4 has no extraction filters; onebin build wrote this archive.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(into, **safe)  # noqa: S202
