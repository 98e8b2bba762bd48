"""Settings: one typed object, built once from CLI flags and ``ONEBIN_*`` variables.

Every setting is declared once in ``SETTINGS``; the argparse flags, the environment
variable names and the ``--help`` text are all derived from that table so they can
never disagree. A flag given on the command line wins over the environment, which
wins over the default. Validation happens here, at start, so a bad value is a
one-line error instead of a failure minutes later.
"""

from __future__ import annotations

import argparse
import difflib
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onebin import values
from onebin.errors import ConfigError

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
ENV_PREFIX = "ONEBIN_"
LOOPBACK = "127.0.0.1"
# ONEBIN_* variables that are not settings but are read on purpose (none today);
# ``unknown_variables`` does not warn about them.
INTERNAL_VARIABLES: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Option:
    """One setting: its flag, its environment variable, how to parse it and its help."""

    name: str
    parse: Callable[[str], Any]
    help: str
    repeatable: bool = False
    is_flag: bool = False
    shown_default: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def default(self) -> Any:
        return Settings.__dataclass_fields__[self.name].default


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, validated."""

    host: str | None = None
    port: int = 8000
    data_dir: Path = Path("data")
    # May hold a password: kept out of repr() so no log of the settings shows it.
    database_url: str | None = field(default=None, repr=False)
    log_level: str = "info"
    log_format: str = "text"
    access_log: bool = True
    metrics: bool = False
    workers: int = 1
    max_body_bytes: int = 1024 * 1024
    sqlite_synchronous: str = "FULL"
    graceful_timeout: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_connections: int | None = None
    max_client_connections: int = 128
    query_timeout: float = 2.0
    write_timeout: float = 5.0
    worker_timeout: float = 10.0
    min_free_disk: int = 64 * 1024 * 1024
    backup_every: float | None = None
    backup_keep: int = 7
    auth_failure_limit: int = 10
    job_workers: int = 4
    job_lease: float = 30.0
    job_retry_delay: float = 2.0
    events_keep: float = 7 * 24 * 3600.0
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    https_port: int = 443
    http_port: int = 80
    acme_directory: str = LETS_ENCRYPT_PRODUCTION
    acme_staging: bool = False
    acme_email: str = ""
    acme_ca_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    app: str | None = None

    @property
    def listen_host(self) -> str:
        """The address to bind: ``--host``, else every address with ``--domain``, else
        loopback.

        A certificate authority must reach a ``--domain`` server from outside, so
        loopback (right for a local ``serve``) would leave it serving nobody.
        """
        if self.host is not None:
            return self.host
        return all_addresses() if self.domain else LOOPBACK

    @property
    def https_enabled(self) -> bool:
        return bool(self.domain) or self.tls_cert is not None

    @property
    def acme_enabled(self) -> bool:
        return bool(self.domain) and self.tls_cert is None

    @property
    def effective_acme_directory(self) -> str:
        return LETS_ENCRYPT_STAGING if self.acme_staging else self.acme_directory

    @property
    def database_path(self) -> Path:
        return self.data_dir / "onebin.sqlite3"

    @property
    def database_location(self) -> str:
        """Where the database is, fit to print: the URL without its password, or the file."""
        if self.database_url is not None:
            return values.redact(self.database_url)
        return str(self.database_path.resolve())

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"


def all_addresses() -> str:
    """Every address of this machine: ``::`` where one IPv6 socket also takes IPv4
    (``bind`` turns ``IPV6_V6ONLY`` off for it), else ``0.0.0.0``."""
    return "::" if socket.has_dualstack_ipv6() else "0.0.0.0"  # noqa: S104 - on purpose


SETTINGS: tuple[Option, ...] = (
    Option(
        "host",
        str,
        "address to listen on (:: is every address, IPv4 too)",
        shown_default=f"{LOOPBACK}, or all addresses with --domain",
    ),
    Option("port", values.port, "HTTP port when HTTPS is off"),
    Option("data_dir", Path, "directory for the database, certificates and locks"),
    Option(
        "database_url",
        values.database_url,
        "PostgreSQL URL (postgresql://USER:PASSWORD@HOST/DB?sslmode=...); "
        "SQLite in the data directory when unset",
    ),
    Option("log_level", values.log_level, "debug, info, warning or error"),
    Option(
        "log_format",
        values.log_format,
        "text, or json: every log line one JSON object with stable keys",
    ),
    Option(
        "access_log",
        values.boolean,
        "one log line per request (on or off)",
        shown_default="on",
    ),
    Option(
        "metrics",
        values.boolean,
        "serve Prometheus metrics at /metrics, to loopback clients or with an admin token",
        is_flag=True,
    ),
    Option(
        "workers", values.workers, "server processes sharing the ports (one per core is plenty)"
    ),
    Option("max_body_bytes", values.positive_int, "largest request body accepted, in bytes"),
    Option(
        "sqlite_synchronous",
        values.sqlite_synchronous,
        "SQLite durability: FULL survives power loss, NORMAL only process crashes",
    ),
    Option("graceful_timeout", values.positive_float, "seconds in-flight requests get on SIGTERM"),
    Option(
        "header_timeout",
        values.positive_float,
        "seconds a client gets for the TLS handshake and its request headers",
    ),
    Option("body_timeout", values.positive_float, "seconds a client gets to send a request body"),
    Option("max_header_bytes", values.positive_int, "largest request line plus headers, in bytes"),
    Option(
        "max_connections",
        values.connection_limit,
        "open connections per process; more get 503 (auto: from the open-files limit)",
        shown_default="auto",
    ),
    Option(
        "max_client_connections",
        values.positive_int,
        "open connections per client address (IPv6: per /64); trusted proxies are exempt",
    ),
    Option(
        "query_timeout",
        values.positive_float,
        "seconds a database query may run before it is stopped with 503",
    ),
    Option(
        "write_timeout",
        values.positive_float,
        "seconds a write may wait for the database before it is refused with 503",
    ),
    Option(
        "worker_timeout",
        # Workers stamp a heartbeat every second; a start-up must fit in it too.
        values.float_above(2),
        "with --workers: seconds without a heartbeat before a worker is replaced (> 2)",
    ),
    Option(
        "min_free_disk",
        values.size,
        "free space the data directory needs to be ready (/readyz), e.g. 64MiB",
        shown_default="64MiB",
    ),
    Option(
        "backup_every",
        values.duration,
        "take a verified backup into DATA_DIR/backups this often, e.g. 6h (off when unset)",
    ),
    Option("backup_keep", values.positive_int, "how many scheduled backups to keep"),
    Option(
        "auth_failure_limit",
        values.int_in(1, 60_000),
        "bad-token attempts per client address in this and the previous minute before 429",
    ),
    Option(
        "job_workers",
        values.int_in(0, 1000),
        "background jobs each process runs at once (0: this process runs none)",
    ),
    Option(
        "job_lease",
        values.float_above(1),
        "seconds a claimed job is held without renewal; a lost process's jobs run again after it",
    ),
    Option(
        "job_retry_delay",
        values.positive_float,
        "seconds before a failed job's first retry; doubled per attempt, up to an hour",
    ),
    Option(
        "events_keep",
        values.duration,
        "how long changes stay in the event log, for streams and webhooks to resume from",
        shown_default="7d",
    ),
    Option(
        "trusted_proxies",
        values.network_list,
        "comma-separated addresses/networks whose X-Forwarded-For is believed (none when empty)",
    ),
    Option(
        "cors_origins",
        values.origin_list,
        "comma-separated origins allowed to call the API from a browser (off when empty)",
    ),
    Option(
        "domain",
        values.domain,
        "domain to serve over HTTPS with an automatic certificate (repeatable)",
        repeatable=True,
    ),
    Option("https_port", values.port, "HTTPS port when a domain or certificate is set"),
    Option(
        "http_port", values.port, "HTTP port for ACME challenges and redirects when HTTPS is on"
    ),
    Option("acme_directory", str, "ACME directory URL (default: Let's Encrypt production)"),
    Option(
        "acme_staging",
        values.boolean,
        "use Let's Encrypt's staging CA (untrusted test certificates)",
        is_flag=True,
    ),
    Option("acme_email", str, "contact e-mail for the ACME account"),
    Option("acme_ca_file", Path, "extra CA bundle to trust the ACME server (e.g. Pebble's)"),
    Option("tls_cert", Path, "bring your own certificate chain (PEM); disables ACME"),
    Option("tls_key", Path, "private key (PEM) for --tls-cert"),
    Option(
        "app",
        values.app_reference,
        "the application to serve, as MODULE:ATTRIBUTE",
        shown_default="onebin.items:app",
    ),
)


def add_arguments(
    parser: argparse.ArgumentParser,
    options: Sequence[Option] = SETTINGS,
    shown_defaults: Mapping[str, str] | None = None,
) -> None:
    """Add a flag per setting; help shows the environment variable and the default.

    ``shown_defaults`` overrides the default shown for a setting, by name: a packed
    app's ``--app`` defaults to that app, not to the items catalogue.
    """
    for option in options:
        default = option.default
        shown = (
            (shown_defaults or {}).get(option.name)
            or option.shown_default
            or ("off" if option.is_flag else ("none" if default in (None, ()) else default))
        )
        help_text = f"{option.help} [env {option.env}; default {shown}]"
        if option.is_flag:
            parser.add_argument(option.flag, action="store_const", const="true", help=help_text)
        elif option.repeatable:
            parser.add_argument(option.flag, action="append", metavar="VALUE", help=help_text)
        else:
            parser.add_argument(option.flag, metavar="VALUE", help=help_text)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning line per ``ONEBIN_*`` variable that is no setting, naming the closest.

    A mistyped variable (``ONEBIN_PROT=9000``) is otherwise ignored without a word
    and the default is used, which looks like onebin ignoring the setting.
    """
    known = {option.env for option in SETTINGS}
    # Compared without the prefix, which every name shares and would make any two alike.
    suffixes = [env.removeprefix(ENV_PREFIX) for env in sorted(known)]
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known or name in INTERNAL_VARIABLES:
            continue
        closest = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
        hint = f" (did you mean {ENV_PREFIX}{closest[0]}?)" if closest else ""
        warnings.append(f"{name} is not an onebin setting{hint}")
    return warnings


def _parse(option: Option, raw: str, source: str) -> Any:
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"invalid {source}: {exc}") from None


def build_settings(
    flags: argparse.Namespace | None = None,
    environ: Mapping[str, str] | None = None,
    options: Sequence[Option] = SETTINGS,
) -> Settings:
    """Resolve every setting: flag, then environment, then default; then cross-check."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in options:
        given = getattr(flags, option.name, None) if flags is not None else None
        if given is not None:
            if option.repeatable:
                values[option.name] = tuple(_parse(option, v, option.flag) for v in given)
            else:
                values[option.name] = _parse(option, given, option.flag)
        elif option.env in environ:
            raw = environ[option.env]
            if option.repeatable:
                parts = [p for p in raw.replace(",", " ").split() if p]
                values[option.name] = tuple(_parse(option, p, option.env) for p in parts)
            else:
                values[option.name] = _parse(option, raw, option.env)
        else:
            values[option.name] = option.default
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key must be given together")
    for path in (settings.tls_cert, settings.tls_key, settings.acme_ca_file):
        if path is not None and not path.is_file():
            raise ConfigError(f"file not found: {path}")
    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        raise ConfigError(f"--data-dir {settings.data_dir} exists and is not a directory")
    if settings.https_enabled and settings.http_port == settings.https_port:
        raise ConfigError("--http-port and --https-port must differ")
    if settings.database_url is not None and settings.backup_every is not None:
        raise ConfigError(
            "--backup-every copies the SQLite file; with --database-url back up PostgreSQL "
            "with pg_dump (or its own continuous archiving)"
        )
    if settings.acme_enabled and not settings.effective_acme_directory.startswith("https://"):
        raise ConfigError("--acme-directory must be an https:// URL")
