"""onebin: a whole web service in one executable file."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("onebin")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
