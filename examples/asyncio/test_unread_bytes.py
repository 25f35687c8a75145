"""A failing test: the client closes without reading everything the server sent.

For a connection made with asyncio.open_connection() to the server's port,
expect_disconnect() also checks that the client read every byte the server
sent; the failure names the bytes it left unread.

The server's two replies leave in one write, so they reach the client's
reader together: the client reads the first and closes with b"bye" unread.

Outcome: failed
Failure: Expected the client to close the connection cleanly, but it closed with 3 unread bytes: b'bye'
"""  # noqa: E501 (the diagnostic is one line)

import pytest
from clients import greet


@pytest.mark.asyncio
async def test_unread_bytes(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.send_bytes(b"bye")
    tcpserver.expect_disconnect()

    # The client reads the greeting's reply (see clients.greet), not the rest.
    _, writer = await greet(tcpserver.service_port)
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
