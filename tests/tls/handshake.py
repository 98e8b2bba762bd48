"""TLS clients for tests: which certificate does a server present to a new connection?"""

from __future__ import annotations

import socket
import ssl

from cryptography import x509


def client_context(root_pem: str) -> ssl.SSLContext:
    """Trusts only ``root_pem``: a handshake succeeds only if the server sends its chain."""
    return ssl.create_default_context(cadata=root_pem)


def serial_of(tls: ssl.SSLSocket | ssl.SSLObject) -> str:
    der = tls.getpeercert(binary_form=True)
    assert der is not None
    return format(x509.load_der_x509_certificate(der).serial_number, "x")


def served_serial(port: int, root_pem: str, name: str = "app.test") -> str | None:
    """The serial a fresh connection to 127.0.0.1:``port`` sees, or None if it fails."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client_context(root_pem).wrap_socket(raw, server_hostname=name) as tls,
        ):
            return serial_of(tls)
    except (OSError, ssl.SSLError):
        return None


def served_serial_in_memory(server: ssl.SSLContext, root_pem: str, name: str = "app.test") -> str:
    """Handshake against ``server`` through memory buffers: the real TLS code, no sockets."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context(root_pem).wrap_bio(to_client, to_server, server_hostname=name)
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for side, tls in (("client", client), ("server", server_side)):
            if not done[side]:
                try:
                    tls.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(to_server.read())
        to_client.write(server_out.read())
        if all(done.values()):
            return serial_of(client)
    raise AssertionError("TLS handshake did not complete")
