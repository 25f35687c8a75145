"""test_expect_frame_success as a coroutine: the client sends one frame.

Outcome: passed
"""

import pytest_twisted
from clients import FrameClient
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.ensureDeferred
async def test_expect_frame_success_async(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"Goodbye, world")

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = await connectProtocol(endpoint, FrameClient())
    # sendString() writes the 4-byte length header, then the payload.
    client.sendString(b"Goodbye, world")
    await client.close()

    await tcpserver.join()
