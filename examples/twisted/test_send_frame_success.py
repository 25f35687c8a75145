"""A passing test: the server sends a frame (send_frame) and the client receives it.

There is no join() here: teardown finishes the script, and the client has
closed the connection, as the script's implicit expect_disconnect() wants.

Outcome: passed
"""

import pytest_twisted
from clients import FrameClient
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.inlineCallbacks
def test_send_frame_success(tcpserver):
    tcpserver.expect_connect()

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = yield connectProtocol(endpoint, FrameClient())

    # The server immediately sends a frame
    tcpserver.send_frame(b"Hello")

    # The client receives the frame: Int32StringReceiver reads the header, then
    # the payload, and hands over the payload.
    assert (yield client.frames.get()) == b"Hello"

    yield client.close()
