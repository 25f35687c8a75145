"""A failing test: the client sends a frame header but not all of its payload.

Under the first line, the diagnostic shows what did arrive.

Outcome: failed
Failure: Timed out waiting for frame b'Goodbye, world'
"""

import struct

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_expect_frame_times_out(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"Goodbye, world")

    # The client announces a 14-byte payload but sends only 7 bytes of it.
    client = await connect(tcpserver.service_port)
    client.transport.write(struct.pack(">I", 14) + b"Goodbye")

    await tcpserver.join()
