"""A failing test: the client never closes the connection.

Outcome: failed
Failure: Timed out waiting for the client to close the connection
"""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_expect_disconnect_times_out(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"QUIT\n")
    tcpserver.send_bytes(b"BYE\n")
    tcpserver.expect_disconnect()

    # The client asks to quit and reads the answer, but forgets to close the
    # connection.
    reader, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"QUIT\n")
    assert await reader.readline() == b"BYE\n"

    await tcpserver.join()
