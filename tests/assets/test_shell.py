from __future__ import annotations

import base64
import hashlib

from onebin.assets.shell import content_security_policy, html_headers, inline_scripts

PAGE = """<!doctype html><html><head>
<script src="/_app/a.js"></script>
<script type="module">import("/x.js");</script>
</head><body><script>
  const a = "</div>";
</script></body></html>"""


def test_inline_scripts_keeps_exact_text_and_skips_external_scripts():
    assert inline_scripts(PAGE) == ['import("/x.js");', '\n  const a = "</div>";\n']


def test_content_security_policy_allows_exactly_the_inline_scripts():
    policy = content_security_policy(PAGE)
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline_scripts(PAGE)
    }
    sources = directives["script-src"].split()
    assert sources[0] == "'self'"
    assert set(sources[1:]) == expected
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


def test_html_headers_set_policy_and_referrer_policy():
    headers = html_headers(PAGE.encode())
    assert set(headers) == {"content-security-policy", "referrer-policy"}
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
