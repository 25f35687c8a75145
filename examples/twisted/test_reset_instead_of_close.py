"""A failing test: the client resets the connection where it should close it.

expect_disconnect() wants an orderly close (a FIN); abortConnection() resets
the connection (an RST) instead.

Outcome: failed
Failure: Expected the client to close the connection, but the connection was reset
"""

import pytest_twisted
from clients import FrameClient, connect


@pytest_twisted.ensureDeferred
async def test_reset_instead_of_close(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"QUIT")
    tcpserver.send_frame(b"BYE")
    tcpserver.expect_disconnect()

    # The client says it quits and reads the answer, then aborts the connection.
    client = await connect(tcpserver.service_port, FrameClient())
    client.sendString(b"QUIT")
    assert await client.frames.get() == b"BYE"
    client.transport.abortConnection()

    await tcpserver.join()
