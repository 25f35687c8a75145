"""test_expect_bytes_times_out as a coroutine: the client never sends its message.

Outcome: failed
Failure: Timed out waiting for b'Hello, world!'
"""

import pytest_twisted
from clients import Client
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.ensureDeferred
async def test_expect_bytes_times_out_async(tcpserver):
    # The server expects the client to connect, send a message and disconnect.
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, world!")
    tcpserver.expect_disconnect()

    # The client connects but sends nothing and does not close the connection.
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    await connectProtocol(endpoint, Client())

    # The server times out waiting for the message: the test fails here.
    await tcpserver.join()
