"""A failing test: the client closes the connection in the middle of a message.

The diagnostic shows the bytes that did arrive before the close.

Outcome: failed
Failure: Expected b'Hello, server!' but the client closed the connection after b'Hello'
"""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_closed_early(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    # The client sends only the start of its greeting, then hangs up.
    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"Hello")
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
