"""A failing test: a step needs a connection, but the script never expected one.

The script forgets expect_connect(), so expect_bytes() has no connection to
read from. Steps are checked in order as they are declared: this one fails at
once, whatever the client does.

Outcome: failed
Failure: expect_bytes(b'Hello, server!') needs a connection, but none was made (declare expect_connect() before it)
"""  # noqa: E501 (the diagnostic is one line)

import asyncio

import pytest


@pytest.mark.asyncio
async def test_no_connection(tcpserver):
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"Hello, server!")
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
