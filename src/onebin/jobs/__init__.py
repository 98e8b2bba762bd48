"""The durable job queue: jobs enqueued in a write's transaction, run by every serve process.

- ``tables``: the table and the SQL of each engine;
- ``schedule``: when a job runs (retry back-off, periodic slots), pure;
- ``queue``: ``JobQueue`` (``context.jobs``): enqueue, inspect, retry, cancel;
- ``runner``: ``JobRunner``, the ``Service`` that claims and runs jobs;
- ``library``: onebin's own jobs (``onebin.*`` kinds);
- ``cli``: ``onebin jobs list/show/retry/cancel``.
"""
