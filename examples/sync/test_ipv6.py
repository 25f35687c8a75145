"""A passing test: a server on the IPv6 loopback (``host="::1"``), and a
client that dials what the server reports (``host``, ``service_port``).

``--tcpserver-host=::1`` (or the ``tcpserver_host`` ini option) puts every
server of the run there. On a machine without IPv6 the test skips.

Outcome: passed
"""

import socket

import pytest


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback on this machine")
def test_ipv6(tcpserver_factory):
    server = tcpserver_factory(host="::1")
    server.expect_connect()
    server.expect_line(b"hello")
    server.send_line(b"hi")
    server.expect_disconnect()

    with socket.create_connection((server.host, server.service_port)) as client:
        assert client.family == socket.AF_INET6
        client.sendall(b"hello\r\n")
        assert client.recv(10) == b"hi\r\n"

    server.join()
