"""A passing test: http.client makes an HTTPS request to a server that speaks
TLS from the first byte (``tcpserver_factory(tls=True)``).

http.client closes the TCP connection without a TLS close_notify, as most
clients do: that is a clean close for ``expect_disconnect()``.

Outcome: passed
"""

import http.client


def test_https(tcpserver_factory, tcpclient_ssl_context):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"GET /status HTTP/1.1")
    server.on_line(lambda header: True)  # Host, Accept-Encoding and the blank line
    server.send_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    server.expect_disconnect()

    connection = http.client.HTTPSConnection(
        "localhost", server.service_port, context=tcpclient_ssl_context
    )
    connection.request("GET", "/status")
    body = connection.getresponse().read()
    connection.close()

    server.join()
    assert body == b"ok"
