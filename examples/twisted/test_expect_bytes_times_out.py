"""A failing test: the client connects but never sends the expected message.

The server times out waiting for the message and the test fails, at its
join() line, with a diagnostic message.

Outcome: failed
Failure: Timed out waiting for b'Hello, world!'
"""

import pytest_twisted
from clients import Client
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.inlineCallbacks
def test_expect_bytes_times_out(tcpserver):
    # --------------------------------------------------------------------------
    # Server expectations. The server just expects the client to connect, send
    # a message and then disconnect.
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, world!")
    tcpserver.expect_disconnect()

    # --------------------------------------------------------------------------
    # The client connects but it does not send the message and it does not close
    # the connection.
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    yield connectProtocol(endpoint, Client())

    # --------------------------------------------------------------------------
    # The server will time out waiting for the expected message. The test will
    # fail with a diagnostic message.
    yield tcpserver.join()
