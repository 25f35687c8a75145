"""A failing test: the client sends a frame with another payload.

Outcome: failed
Failure: Expected frame b'LOGIN alice' but received frame b'LOGIN bob'
"""

import pytest_twisted
from clients import FrameClient, connect


@pytest_twisted.ensureDeferred
async def test_wrong_frame(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"LOGIN alice")
    tcpserver.send_frame(b"OK")
    tcpserver.expect_disconnect()

    # The client logs in as the wrong user.
    client = await connect(tcpserver.service_port, FrameClient())
    client.sendString(b"LOGIN bob")

    await tcpserver.join()
