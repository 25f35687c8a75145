"""A failing test: the connection is reset while the server waits for a message.

abortConnection() closes the socket at once, so the server sees a reset
(ECONNRESET), not an orderly close.

Outcome: failed
Failure: Expected b'Goodbye, server!' but the connection was reset after b''
"""

import pytest_twisted
from clients import greet


@pytest_twisted.ensureDeferred
async def test_reset_early(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_bytes(b"Goodbye, server!")

    # The client greets the server and reads the reply (see clients.greet), then
    # aborts the connection instead of saying goodbye.
    client = await greet(tcpserver.service_port)
    client.transport.abortConnection()

    await tcpserver.join()
