"""A failing test: the client trusts only the system's CAs, not the throwaway
CA of the scripted server, and rejects its certificate with an alert.

Outcome: failed
Failure: TLS handshake failed: the client rejected the server's certificate (tlsv1 alert unknown ca)
"""  # noqa: E501 (the diagnostic is one line)

import socket
import ssl

import pytest


def test_untrusted_certificate(tcpserver_factory):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"PING")

    context = ssl.create_default_context()  # tcpclient_ssl_context would trust it
    raw = socket.create_connection(("127.0.0.1", server.service_port))
    with pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="localhost")
    raw.close()

    server.join()
