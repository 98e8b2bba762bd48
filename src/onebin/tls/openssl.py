"""Two OpenSSL settings that Python's ``ssl`` module cannot make: key-exchange groups, auto DH.

Python 3.11 offers ``set_ecdh_curve``, which sets one group, and ``load_dh_params``,
which needs a file; OpenSSL itself takes a list of groups and can pick DH parameters
to match the certificate. Both are ``SSL_CTX_ctrl`` calls on the context's
``SSL_CTX``, made here through ``ctypes``.

The call must reach the very libssl that Python's ``_ssl`` extension uses: another
copy would read the ``SSL_CTX`` with its own idea of the layout. So the symbols are
looked up through ``_ssl``'s own handle, which resolves them in the libraries it was
linked against (also in a PyInstaller build, where ``_ssl`` is a file next to the
bundled libssl). Two checks must pass before anything is written: the library
reports the version that ``ssl`` reports, and reading the options through the
``SSL_CTX`` pointer gives what ``SSLContext.options`` says. Anything unexpected raises
``OpenSSLError``; a server never silently runs without the groups it was told to use.
"""

from __future__ import annotations

import _ssl
import ctypes
import functools
import ssl
import sys
from collections.abc import Callable

from onebin.errors import OpenSSLError

# From OpenSSL's ssl.h; stable since 1.1.0.
SSL_CTRL_SET_GROUPS_LIST = 92
SSL_CTRL_SET_DH_AUTO = 118


def _library() -> ctypes.CDLL:
    """The loaded ``_ssl`` extension, through which its libssl's symbols resolve."""
    if sys.implementation.name != "cpython":
        raise OpenSSLError(f"TLS groups can only be set on CPython, not {sys.implementation.name}")
    path = getattr(_ssl, "__file__", None)
    if path is None:
        # ``_ssl`` is built into the interpreter, so libssl is one of its own libraries.
        return ctypes.CDLL(None)
    # Already loaded: dlopen returns the existing handle, nothing new is loaded.
    return ctypes.CDLL(path)


@functools.cache
def _functions() -> tuple[Callable[..., int], Callable[..., int]]:
    """``SSL_CTX_ctrl`` and ``SSL_CTX_get_options``, checked to be ``ssl``'s own libssl."""
    library = _library()
    try:
        version = library.OpenSSL_version_num
        ctrl = library.SSL_CTX_ctrl
        get_options = library.SSL_CTX_get_options
    except AttributeError as error:
        raise OpenSSLError(f"libssl of Python's ssl module not found: {error}") from None
    version.restype = ctypes.c_ulong
    version.argtypes = []
    if version() != ssl.OPENSSL_VERSION_NUMBER:
        raise OpenSSLError(
            f"the libssl found reports version {version():#x}, "
            f"but Python's ssl module uses {ssl.OPENSSL_VERSION_NUMBER:#x}"
        )
    ctrl.restype = ctypes.c_long
    ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    get_options.restype = ctypes.c_uint64
    get_options.argtypes = [ctypes.c_void_p]
    return ctrl, get_options


def _ssl_ctx(context: ssl.SSLContext, get_options: Callable[..., int]) -> int:
    """The ``SSL_CTX *`` of ``context``: CPython keeps it right after the object header."""
    address = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not address:
        raise OpenSSLError("the SSLContext has no SSL_CTX")
    if get_options(address) != int(context.options):
        raise OpenSSLError("the SSLContext's SSL_CTX is not where CPython 3.11 keeps it")
    return address


def configure(context: ssl.SSLContext, *, groups: str, auto_dh: bool) -> None:
    """Offer only ``groups`` (OpenSSL names, ``:``-separated); pick DH parameters if ``auto_dh``.

    ``auto_dh`` lets OpenSSL choose the DHE group from the certificate's strength
    (2048 bits for an RSA-2048 key, never below the security level); without it the
    DHE cipher suites can never be negotiated.
    """
    ctrl, get_options = _functions()
    ctx = _ssl_ctx(context, get_options)
    if ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0, ctypes.c_char_p(groups.encode())) != 1:
        raise OpenSSLError(f"OpenSSL refused the key-exchange groups {groups!r}")
    if auto_dh and ctrl(ctx, SSL_CTRL_SET_DH_AUTO, 1, None) != 1:
        raise OpenSSLError("OpenSSL refused to choose DH parameters automatically")
