"""A failing test: the client sends more bytes where it should close the connection.

Outcome: failed
Failure: Expected the client to close the connection, but it sent b'Bye!'
"""

import pytest_twisted
from clients import greet


@pytest_twisted.ensureDeferred
async def test_bytes_instead_of_close(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # After the greeting (see clients.greet) the client says something more.
    client = await greet(tcpserver.service_port)
    client.transport.write(b"Bye!")
    await client.close()

    await tcpserver.join()
