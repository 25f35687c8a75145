"""A failing test: the client closes the connection in the middle of a message.

The diagnostic shows the bytes that did arrive before the close.

Outcome: failed
Failure: Expected b'Hello, server!' but the client closed the connection after b'Hello'
"""

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_closed_early(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    # The client sends only the start of its greeting, then hangs up.
    client = await connect(tcpserver.service_port)
    client.transport.write(b"Hello")
    await client.close()

    await tcpserver.join()
