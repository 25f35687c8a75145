"""A failing test: the client calls writer.close() but never awaits wait_closed().

For a connection made with asyncio.open_connection() to the server's port,
expect_disconnect() also checks that the client awaited writer.wait_closed()
after writer.close(): without it, the client may go on before its socket is
closed.

Outcome: failed
Failure: Expected the client to close the connection cleanly, but it did not await writer.wait_closed() after writer.close()
"""  # noqa: E501 (the diagnostic is one line)

import pytest
from clients import greet


@pytest.mark.asyncio
async def test_wait_closed_not_awaited(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # After the greeting (see clients.greet), the client closes its writer but
    # does not wait until it is closed.
    _, writer = await greet(tcpserver.service_port)
    writer.close()

    await tcpserver.join()
