"""onebin: a whole web service in one executable file."""

# The one place the version is written; pyproject.toml reads it from here. A
# literal, not importlib.metadata: that import alone cost ~60 ms of every start.
__version__ = "0.1.0"
