"""Webhooks: every committed event POSTed, signed, to the URLs that asked for its type.

- ``rules``: what a webhook may be (its URL, its event patterns) and which events
  a pattern matches; pure;
- ``signing``: the ``Onebin-Signature`` of a delivery and its check; pure;
- ``tables``: the ``onebin_webhooks`` table (library migration 7) and its SQL;
- ``store``: ``WebhookStore`` (add, list, remove) and the fan-out hook that queues a
  delivery job for each matching webhook in the transaction that appends the event;
- ``delivery``: the ``onebin.webhook`` job handler that makes the HTTP request;
- ``cli``: ``onebin webhook add/list/remove``.
"""

from __future__ import annotations

from onebin.webhooks.store import WebhookStore, fan_out

__all__ = ["WebhookStore", "fan_out"]
