"""Automatic HTTPS: ACME certificates, their cache, renewal and a hot-swappable TLS context.

``manager.CertificateManager`` is the entry point; the other modules are its parts:
``policy`` (pure decisions), ``storage`` (the data-dir cache), ``acme_client``
(the CA), ``context`` (the live ``SSLContext``) and ``status`` (what the CLI shows).
"""
