"""What the serving code reports to metrics (``--metrics``), and nothing when they are off.

The few places that see an event no request observer sees (a connection refused
before it has a request, a protocol refusal, a failed token flood, a failed
certificate order) call ``recorder()``'s methods. Until a worker turns metrics on
(``install``) that is this module's ``Recorder``, whose methods do nothing, so a
server without ``--metrics`` pays one method call per such event and never imports
``prometheus_client`` (importing it costs start-up time).

Requests, database calls and gauges are not reported through here: they are
observed from outside (the access-log observer, a wrapper on the database's three
ways in, a sampler) only when metrics are on, so they cost nothing otherwise.
"""

from __future__ import annotations


class Recorder:
    """The events metrics count; this base class counts nothing.

    Methods must not raise and must be cheap: they run on the event loop (or the
    certificate thread) in the middle of the work they describe.
    """

    def refused(self, cause: str) -> None:
        """A connection or request was refused before the app saw it (or a token
        flood was answered 429): ``cause`` is one of a few fixed words."""

    def renewal_failed(self, domain: str) -> None:
        """An order for the certificate named ``domain`` failed."""


_current = Recorder()


def recorder() -> Recorder:
    """The process's recorder: the no-op one unless ``install`` replaced it."""
    return _current


def install(chosen: Recorder) -> None:
    """Make ``chosen`` the process's recorder (a worker, once, when metrics are on)."""
    global _current
    _current = chosen
