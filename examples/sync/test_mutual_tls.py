"""A passing test: a client presents the certificate the server requires
(``client_certificate=True``); ``tcpclient_certificate`` was issued by the
same throwaway CA, and ``configure()`` loads it into the client's context.

Outcome: passed
"""

import socket


def test_mutual_tls(tcpserver_factory, tcpclient_ssl_context, tcpclient_certificate):
    server = tcpserver_factory(tls=True, client_certificate=True)
    server.expect_connect()
    server.expect_line(b"PING")
    server.send_line(b"PONG")
    server.expect_disconnect()

    tcpclient_certificate.configure(tcpclient_ssl_context)  # load_cert_chain()
    raw = socket.create_connection(("127.0.0.1", server.service_port))
    with tcpclient_ssl_context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"PING\r\n")
        assert tls.recv(100) == b"PONG\r\n"

    server.join()
