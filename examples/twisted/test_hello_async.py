"""test_hello as a coroutine: the same exchange, awaited instead of yielded.

Outcome: passed
"""

import pytest_twisted
from clients import Client
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.ensureDeferred
async def test_hello_async(tcpserver):
    # The client connects, sends a greeting, receives the reply and hangs up.
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = await connectProtocol(endpoint, Client())
    client.transport.write(b"Hello, server!")
    assert await client.read(14) == b"Hello, client!"
    await client.close()

    # Failures, if any, are reported here.
    await tcpserver.join()
