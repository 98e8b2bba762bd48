"""Running wrk and reading its report, for every benchmark in this folder."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# GET /api/items/{id} with ids drawn at random from 1 to %d (the item count).
RANDOM_GET = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/items/" .. math.random(1, %d))
end
"""


@dataclass(frozen=True)
class Result:
    rps: float
    p99_ms: float
    errors: int
    p50_ms: float = 0.0


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    script: str | None = None,
    headers: tuple[str, ...] = (),
    threads: int = 2,
) -> Result:
    """One wrk run with two threads, as in the anchor figures; ``script`` is Lua source."""
    # threads=1 with one connection measures one client alone (wrk needs at least
    # one connection per thread).
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            command += ["-s", str(Path(lua.name))]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Result(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p99_ms=to_ms(re.search(r"\s99%\s+(\S+)", output).group(1)),
        errors=int(errors.group(1)) if errors else 0,
        p50_ms=to_ms(re.search(r"\s50%\s+(\S+)", output).group(1)),
    )
