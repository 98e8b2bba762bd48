"""Security headers for HTML pages, the single-page app's shell above all.

The SvelteKit shell boots the app from one inline ``<script>``. Rather than allow
every inline script (``'unsafe-inline'``), the policy lists the SHA-256 of each
inline script the page actually contains, computed once when the index is built.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

BASE_POLICY = (
    "default-src 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "img-src 'self' data:",
    "style-src 'self'",
    # SvelteKit's route announcer is styled through a style attribute; attributes cannot
    # load anything or run script, while <style> elements stay limited to our files.
    "style-src-attr 'unsafe-inline'",
    "connect-src 'self'",
)
REFERRER_POLICY = "strict-origin-when-cross-origin"


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


def content_security_policy(html: str) -> str:
    sources = ["'self'", *sorted({script_hash(script) for script in inline_scripts(html)})]
    return "; ".join((*BASE_POLICY, "script-src " + " ".join(sources)))


def html_headers(html: bytes) -> dict[str, str]:
    return {
        "content-security-policy": content_security_policy(html.decode("utf-8")),
        "referrer-policy": REFERRER_POLICY,
    }
