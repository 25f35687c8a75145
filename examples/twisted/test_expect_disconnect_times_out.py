"""A failing test: the client never closes the connection.

Outcome: failed
Failure: Timed out waiting for the client to close the connection
"""

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_expect_disconnect_times_out(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"QUIT\n")
    tcpserver.send_bytes(b"BYE\n")
    tcpserver.expect_disconnect()

    # The client asks to quit and reads the answer, but forgets to close the
    # connection.
    client = await connect(tcpserver.service_port)
    client.transport.write(b"QUIT\n")
    assert await client.read(4) == b"BYE\n"

    await tcpserver.join()
