"""A failing test: the client sends other bytes than the server expects.

The test fails as soon as the bytes cannot match, not at the step's timeout,
and the diagnostic shows where they first differ.

Outcome: failed
Failure: Expected b'Hi, server!' but received b'Hi, there!' (first difference at offset 4)
"""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_wrong_bytes(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hi, server!")
    tcpserver.send_bytes(b"Hi, client!")
    tcpserver.expect_disconnect()

    # The client greets the server with the wrong words.
    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"Hi, there!")

    await tcpserver.join()
