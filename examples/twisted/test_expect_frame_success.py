"""A passing test: the client sends one frame (expect_frame).

A frame is a 4-byte big-endian length followed by the payload: the format of
Twisted's Int32StringReceiver, which the client here is built on.

Outcome: passed
"""

import pytest_twisted
from clients import FrameClient
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.inlineCallbacks
def test_expect_frame_success(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"Goodbye, world")

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = yield connectProtocol(endpoint, FrameClient())
    # sendString() writes the 4-byte length header, then the payload.
    client.sendString(b"Goodbye, world")
    # Done
    yield client.close()

    yield tcpserver.join()
