"""A passing test: the standard library's http.client makes a GET request and
reads the response.

The request carries the server's port in its Host header, so the expected
bytes are built from ``tcpserver.service_port``.

Outcome: passed
"""

import http.client


def test_http_get(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(
        b"GET /greeting HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"Accept-Encoding: identity\r\n"
        b"\r\n" % tcpserver.service_port
    )
    tcpserver.send_bytes(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 13\r\n"
        b"\r\n"
        b"Hello, world!"
    )
    tcpserver.expect_disconnect()

    connection = http.client.HTTPConnection("127.0.0.1", tcpserver.service_port)
    connection.request("GET", "/greeting")
    response = connection.getresponse()
    body = response.read()
    connection.close()

    tcpserver.join()
    assert (response.status, body) == (200, b"Hello, world!")
