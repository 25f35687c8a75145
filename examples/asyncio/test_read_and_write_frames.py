"""A passing test: a client built on pytest_tcpclient.framing's stream helpers.

write_frame(writer, payload) writes one frame; await read_frame(reader) reads
one and returns its payload, or b"" once the server has closed the connection
between frames.

Outcome: passed
"""

import asyncio

import pytest

from pytest_tcpclient.framing import read_frame, write_frame


@pytest.mark.asyncio
async def test_read_and_write_frames(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"LIST")
    tcpserver.send_frame(b"apples")
    tcpserver.send_frame(b"pears")
    tcpserver.disconnect()

    # The client asks for the list and reads frames until the server hangs up.
    reader, writer = await asyncio.open_connection(None, tcpserver.service_port)
    write_frame(writer, b"LIST")
    items = []
    while item := await read_frame(reader):
        items.append(item)
    writer.close()
    await writer.wait_closed()

    assert items == [b"apples", b"pears"]
    await tcpserver.join()
