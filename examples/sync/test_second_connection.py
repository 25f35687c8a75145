"""A failing test: the client opens a second connection while the first is open.

A server accepts one connection at a time; use tcpserver_factory for more.

Outcome: failed
Failure: Expected one connection at a time, but the client opened a second one while the first was open
"""  # noqa: E501 (the diagnostic is one line)

from clients import connect


def test_second_connection(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    # The client connects twice, as a client with a careless retry might.
    with connect(tcpserver.service_port), connect(tcpserver.service_port):
        tcpserver.join()
