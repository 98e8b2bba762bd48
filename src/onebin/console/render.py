"""The overview as text for a terminal: what ``onebin status`` prints. Pure.

One section a line (a few have a line per item below them), labels in one column,
sizes and durations for people (``1.4 MiB``, ``3h 12m``); ``--json`` prints the
overview itself for scripts.
"""

from __future__ import annotations

from typing import Any

from onebin.versions import version_line

_UNITS = ("KiB", "MiB", "GiB", "TiB")
_LABEL = 14
_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def size(count: int | None) -> str:
    """Bytes for people: ``512 B``, ``1.4 MiB``; ``?`` when unknown."""
    if count is None:
        return "?"
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def duration(seconds: float) -> str:
    """Whole seconds for people, the two largest units: ``45s``, ``3m 5s``, ``2d 4h``, ``6h``."""
    whole = max(0, int(seconds))
    last = len(_DURATION_UNITS) - 1
    index = next((i for i, (_, length) in enumerate(_DURATION_UNITS) if whole >= length), last)
    unit, length = _DURATION_UNITS[index]
    text = f"{whole // length}{unit}"
    if index < last:
        smaller, below = _DURATION_UNITS[index + 1]
        if rest := whole % length // below:
            text += f" {rest}{smaller}"
    return text


def _line(label: str, text: str) -> str:
    return f"{label:<{_LABEL}}{text}"


def _detail(text: str) -> str:
    return " " * _LABEL + text


def _process(process: dict[str, Any] | None) -> list[str]:
    if process is None:
        return []
    workers = process["workers"]
    return [
        _line(
            "process",
            f"pid {process['pid']}, {workers} worker{'s' if workers != 1 else ''}, up "
            f"{duration(process['uptime_seconds'])} (since {process['started_at']})",
        )
    ]


def _health(health: dict[str, Any]) -> list[str]:
    status = "ready" if health["status"] == "ready" else "NOT READY"
    lines = [_line("health", status)]
    lines += [_detail(f"{name}: {result}") for name, result in health["checks"].items()]
    return lines


def _database(database: dict[str, Any]) -> list[str]:
    text = f"{database['engine']} {database['location']}, {size(database['size_bytes'])}"
    if database["wal_bytes"] is not None:
        text += f" (WAL {size(database['wal_bytes'])})"
    return [_line("database", text)]


def _certificates(certificates: list[dict[str, Any]]) -> list[str]:
    if not certificates:
        return [_line("certificates", "none (HTTPS is off)")]
    lines = [_line("certificates", str(len(certificates)))]
    for entry in certificates:
        if entry["issuer"] is None:
            text = f"{entry['domain']}: no certificate yet"
        else:
            text = f"{entry['domain']}: {entry['issuer']}, expires {entry['not_after']}"
        if entry["next_renewal"]:
            text += f", renewal {entry['next_renewal']}"
        if entry["last_error"]:
            text += f", last error: {entry['last_error']}"
        lines.append(_detail(text))
    return lines


def _jobs(jobs: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{state} {count}" for state, count in jobs["counts"].items())
    return [_line("jobs", f"{counts}; oldest due {duration(jobs['oldest_due_seconds'])}")]


def _backups(backups: dict[str, Any]) -> list[str]:
    if not backups["supported"]:
        return [_line("backups", "not taken by onebin on PostgreSQL (use pg_dump)")]
    every = backups["every_seconds"]
    schedule = f"every {duration(every)}" if every else "not scheduled (--backup-every)"
    last = backups["last"]
    if last is None:
        return [_line("backups", f"none; {schedule}")]
    return [
        _line(
            "backups",
            f"{backups['count']}, newest {last['name']} ({size(last['size_bytes'])}); {schedule}",
        )
    ]


def _search(search: dict[str, Any]) -> list[str]:
    collections = search["collections"]
    if not collections:
        return []
    lines = [_line("search", f"model {search['model']}")]
    for name, counts in collections.items():
        lines.append(_detail(f"{name}: {counts['embedded']} embedded, {counts['waiting']} waiting"))
    return lines


def render(overview: dict[str, Any]) -> str:
    """The overview (``onebin.console.overview``) as lines of text."""
    lines = [
        version_line(overview["versions"]),
        *_process(overview.get("process")),
        *_health(overview["health"]),
        *_database(overview["database"]),
        *_certificates(overview["certificates"]),
        _line("tokens", "{active} active ({admin} admin)".format(**overview["tokens"])),
        *_jobs(overview["jobs"]),
        _line("webhooks", str(overview["webhooks"]["count"])),
        *_backups(overview["backups"]),
        *_search(overview["search"]),
    ]
    return "\n".join(lines)
