"""A failing test: the client sends more bytes where it should close the connection.

Outcome: failed
Failure: Expected the client to close the connection, but it sent b'Bye!'
"""

import pytest
from clients import greet


@pytest.mark.asyncio
async def test_bytes_instead_of_close(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # After the greeting (see clients.greet), the client says something more
    # before it hangs up.
    _, writer = await greet(tcpserver.service_port)
    writer.write(b"Bye!")
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
