"""test_send_frame_success as a coroutine: the client receives the server's frame.

Outcome: passed
"""

import pytest_twisted
from clients import FrameClient
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.ensureDeferred
async def test_send_frame_success_async(tcpserver):
    tcpserver.expect_connect()

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = await connectProtocol(endpoint, FrameClient())

    # The server immediately sends a frame; the client receives its payload.
    tcpserver.send_frame(b"Hello")
    assert await client.frames.get() == b"Hello"

    await client.close()
