"""Automatic HTTPS: ACME certificates, their cache, renewal and a hot-swappable TLS context.

``manager.CertificateManager`` is the entry point; the other modules are its parts:
``policy`` (pure decisions), ``storage`` (the data-dir cache), ``acme_client``
(the CA), ``context`` (the live ``SSLContext``, Mozilla's intermediate profile, with
``openssl`` setting what Python's ``ssl`` cannot), ``redirect`` (the HTTP port) and
``status`` (what the CLI shows).
"""
