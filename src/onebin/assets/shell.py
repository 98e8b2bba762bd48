"""Security headers for HTML pages: a strict Content-Security-Policy and its friends.

A built single-page app boots from an inline ``<script>``. Rather than allow every
inline script (``'unsafe-inline'``), the policy lists the SHA-256 of each inline
script the page actually contains, computed once when the index is built. An
application loosens the policy one directive at a time (``SecurityHeaders.allow``)
instead of writing it out whole, so the strict defaults stay the starting point.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from types import MappingProxyType

STRICT_POLICY: Mapping[str, str] = MappingProxyType(
    {
        "default-src": "'self'",
        "base-uri": "'none'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
        "img-src": "'self' data:",
        "style-src": "'self'",
        # SvelteKit's route announcer is styled through a style attribute; attributes
        # cannot load anything or run script, while <style> elements stay limited to
        # our files.
        "style-src-attr": "'unsafe-inline'",
        "connect-src": "'self'",
        "script-src": "'self'",
    }
)
REFERRER_POLICY = "strict-origin-when-cross-origin"


@dataclass(frozen=True)
class SecurityHeaders:
    """The headers every HTML page of an application is served with.

    ``content_security_policy`` maps each directive to its sources; the SHA-256 of
    every inline ``<script>`` of a page is added to ``script-src`` for that page, so
    the page's own boot script runs and nothing injected does. An empty mapping
    sends no policy at all. ``extra`` adds headers of your own (for example
    ``Permissions-Policy``). The defaults are onebin's strict values.
    """

    content_security_policy: Mapping[str, str] = field(default_factory=lambda: STRICT_POLICY)
    referrer_policy: str = REFERRER_POLICY
    extra: Mapping[str, str] = field(default_factory=dict)

    def allow(self, directive: str, *sources: str) -> SecurityHeaders:
        """A copy whose ``directive`` also allows ``sources``.

        ``SecurityHeaders().allow("style-src", "'unsafe-inline'")`` lets a page use
        inline styles; a directive not in the policy yet is added with ``sources``.
        """
        policy = dict(self.content_security_policy)
        current = policy.get(directive, "").split()
        policy[directive] = " ".join([*current, *(s for s in sources if s not in current)])
        return replace(self, content_security_policy=MappingProxyType(policy))

    def for_page(self, html: bytes) -> dict[str, str]:
        """The headers of one HTML page, with its inline scripts' hashes in the policy."""
        headers = {}
        if self.content_security_policy:
            headers["content-security-policy"] = content_security_policy(
                html.decode("utf-8", errors="replace"), self.content_security_policy
            )
        if self.referrer_policy:
            headers["referrer-policy"] = self.referrer_policy
        headers.update({name.lower(): value for name, value in self.extra.items()})
        return headers


class _InlineScripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._inline = not any(name == "src" for name, _ in attrs)
            if self._inline:
                self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inline = False

    def handle_data(self, data: str) -> None:
        if self._inline:
            self.scripts[-1] += data


def inline_scripts(html: str) -> list[str]:
    """The exact text of each inline ``<script>``, as the browser will hash it."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(html: str, policy: Mapping[str, str] = STRICT_POLICY) -> str:
    """``policy`` as a header value, ``script-src`` allowing the page's inline scripts."""
    hashes = sorted({script_hash(script) for script in inline_scripts(html)})
    directives = dict(policy)
    if hashes:
        directives["script-src"] = " ".join([directives.get("script-src", "'self'"), *hashes])
    return "; ".join(f"{name} {sources}".rstrip() for name, sources in directives.items())
