"""A failing test: the client sends a frame header but not all of its payload.

Under the first line, the diagnostic shows what did arrive.

Outcome: failed
Failure: Timed out waiting for frame b'Goodbye, world'
"""

import asyncio
import struct

import pytest


@pytest.mark.asyncio
async def test_expect_frame_times_out(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"Goodbye, world")

    # The client announces a 14-byte payload but sends only 7 bytes of it.
    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(struct.pack(">I", 14) + b"Goodbye")

    await tcpserver.join()
