"""A failing test: the server requires a client certificate and the client
presents none.

Outcome: failed
Failure: Expected a client certificate, but the client presented none
"""

import socket
import ssl

import pytest


def test_no_client_certificate(tcpserver_factory, tcpclient_ssl_context):
    server = tcpserver_factory(tls=True, client_certificate=True)
    server.expect_connect()
    server.expect_line(b"PING")

    raw = socket.create_connection(("127.0.0.1", server.service_port))
    with tcpclient_ssl_context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"PING\r\n")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            tls.recv(100)  # TLS 1.3: the refusal comes after the handshake

    server.join()
