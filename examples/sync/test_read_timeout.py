"""A passing test: the server is slow (``pause()``), and the client's read
timeout fires before the reply comes, as it must.

Outcome: passed
"""

import socket

import pytest


def test_read_timeout(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET")
    tcpserver.pause(0.5)  # a slow server: the reply comes late
    tcpserver.send_line(b"VALUE")
    tcpserver.expect_disconnect()

    with socket.create_connection(("127.0.0.1", tcpserver.service_port)) as client:
        client.settimeout(0.2)  # the client under test gives up after 0.2 s
        client.sendall(b"GET\r\n")
        with pytest.raises(TimeoutError):
            client.recv(100)

    tcpserver.join()
