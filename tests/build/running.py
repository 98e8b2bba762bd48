"""A packed or installed onebin serving on a port it picks itself (``serve --port 0``).

The port is read from the server's start-up line ("... serving APP on URL ..."),
so no free port is guessed beforehand (another process may take it in between)
and nothing polls: the test waits for the line that says the socket is listening.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

STARTED = re.compile(r" serving \S+ on (https?://\S+) ")


def _forward(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Every line until the process ends (so its pipe never fills), then ``None``."""
    for line in stream:
        lines.put(line)
    lines.put(None)


@contextmanager
def serve_any_port(
    command: Sequence[str],
    *,
    data_dir: Path,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 60,
    options: Sequence[str] = (),
) -> Iterator[str]:
    """Run ``command serve --port 0 [options]``; yield its base URL; kill it on the way out."""
    process = subprocess.Popen(
        [*command, "serve", "--port", "0", "--data-dir", str(data_dir), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=dict(env),
    )
    assert process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_forward, args=(process.stderr, lines), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no start-up line within {timeout}s:\n{''.join(seen)}")
            if line is None:
                pytest.fail(f"the server exited with {process.wait()}:\n{''.join(seen)}")
            seen.append(line)
            started = STARTED.search(line)
            if started:
                break
        yield started[1]
    finally:
        process.kill()
        process.wait(timeout=10)
        reader.join(timeout=10)  # the pipe's end of file, once the process is gone
        process.stderr.close()
