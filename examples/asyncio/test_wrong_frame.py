"""A failing test: the client sends a frame with another payload.

Outcome: failed
Failure: Expected frame b'LOGIN alice' but received frame b'LOGIN bob'
"""

import asyncio

import pytest

from pytest_tcpclient.framing import write_frame


@pytest.mark.asyncio
async def test_wrong_frame(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"LOGIN alice")
    tcpserver.send_frame(b"OK")
    tcpserver.expect_disconnect()

    # The client logs in as the wrong user.
    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    write_frame(writer, b"LOGIN bob")

    await tcpserver.join()
