"""One exception tree for onebin.

Library code raises these with data attached; only the edges translate them: the
HTTP layer into JSON error bodies (``onebin.http.store_error_response``), the CLI
into one-line messages and exit codes.
"""

from __future__ import annotations


class OnebinError(Exception):
    """Base of every error onebin raises on purpose."""


class ConfigError(OnebinError):
    """A setting is invalid; the CLI exits with status 2."""


class StoreError(OnebinError):
    """The database could not do what was asked."""


class NotFound(StoreError):
    """The requested row does not exist."""


class VersionConflict(StoreError):
    """A write was conditioned on a version that is no longer current."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the current version is {current_version}")
        self.current_version = current_version


class StoreFault(StoreError):
    """The database cannot serve right now; the request was fine and may be retried.

    Subclasses name the cause. Nothing was written when one of these is raised for a
    write: a fault is only ever raised before a commit is durable.
    """


class QueryTimeout(StoreFault):
    """A query ran past its deadline (``--query-timeout``) and was interrupted."""


class WriteTimeout(StoreFault):
    """A write could not start within ``--write-timeout`` (the write lock stayed busy)."""


class StorageFull(StoreFault):
    """The disk holding the database is full."""


class DatabaseDamaged(StoreFault):
    """SQLite found the file corrupt; only a restore from a backup repairs it."""


class DatabaseUnavailable(StoreFault):
    """The file cannot be read or written (I/O error, read-only file system, ...)."""


class ForeignDatabase(StoreError):
    """The file belongs to another application or is not a SQLite database at all."""


class DataDirLocked(OnebinError):
    """Another process holds the data directory (e.g. a running server during restore)."""


class DataDirError(OnebinError):
    """The data directory cannot be created, locked or written."""


class AcmeError(OnebinError):
    """An exchange with the CA failed; the message is one line fit for a log or status."""


class OpenSSLError(OnebinError):
    """OpenSSL cannot be configured as onebin requires; the server must not start."""


class ListenError(OnebinError):
    """A port could not be bound (in use, or privileged without the capability)."""


class BuildError(OnebinError):
    """A packer failed or a build input is missing."""


class AppError(OnebinError):
    """An application cannot be loaded or breaks onebin's contract (see docs/library.md)."""
