from __future__ import annotations

import base64
import hashlib

from onebin.assets.shell import SecurityHeaders, content_security_policy, inline_scripts

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


def test_security_headers_set_policy_and_referrer_policy_by_default():
    headers = SecurityHeaders().for_page(PAGE.encode())
    assert set(headers) == {"content-security-policy", "referrer-policy"}
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["content-security-policy"] == content_security_policy(PAGE)


def test_allow_adds_sources_to_one_directive_and_keeps_the_rest_strict():
    loose = SecurityHeaders().allow("style-src", "'unsafe-inline'").allow("img-src", "https:")
    policy = dict(
        part.split(" ", 1)
        for part in loose.for_page(PAGE.encode())["content-security-policy"].split("; ")
    )
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["img-src"] == "'self' data: https:"
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self' 'sha256-")
    assert SecurityHeaders().content_security_policy["style-src"] == "'self'"  # a copy


def test_allow_adds_a_new_directive_and_extra_headers_are_sent():
    headers = SecurityHeaders(extra={"Permissions-Policy": "camera=()"}).allow(
        "worker-src", "'self'"
    )
    page = headers.for_page(b"<p>hi</p>")
    assert "worker-src 'self'" in page["content-security-policy"]
    assert page["permissions-policy"] == "camera=()"


def test_an_empty_policy_sends_no_policy_header():
    assert "content-security-policy" not in SecurityHeaders(content_security_policy={}).for_page(
        PAGE.encode()
    )
