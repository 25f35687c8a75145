"""A failing test: the client closes with unread data, so its kernel resets the connection.

The server sends a frame of 1 MiB. The client reads the 4-byte length header,
then closes without reading the payload. A socket closed while received bytes
wait unread in the kernel sends a reset (RST), not an orderly close (FIN): the
diagnostic says so, rather than just that the connection was reset.

Outcome: failed
Failure: Expected the client to close the connection cleanly, but it closed with 1048576 unread bytes: b'0123456789abcdef0123456789abcdef' ... (the connection was reset)
"""  # noqa: E501 (the diagnostic is one line)

import asyncio
import struct

import pytest


@pytest.mark.asyncio
async def test_reset_with_unread_data(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_frame(b"0123456789abcdef" * 65536)
    tcpserver.expect_disconnect()

    reader, writer = await asyncio.open_connection(None, tcpserver.service_port)
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    assert size == 1024 * 1024
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
