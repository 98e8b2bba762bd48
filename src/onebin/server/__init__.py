"""Serving: listeners, the guarded HTTP protocol, worker processes and their supervisor.

``serve`` (in ``run``) is the entry point of ``onebin serve``; ``worker`` runs one
serving process; ``protocol`` and ``connections`` are the limits every connection
meets; ``supervisor`` and ``heartbeat`` keep ``--workers`` processes alive.
"""

from __future__ import annotations

from onebin.server.run import serve

__all__ = ["serve"]
