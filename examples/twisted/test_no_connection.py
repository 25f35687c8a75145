"""A failing test: a step needs a connection, but the script never expected one.

The script forgets expect_connect(), so expect_bytes() has no connection to
read from. Steps are checked in order as they are declared: this one fails at
once, whatever the client does.

Outcome: failed
Failure: expect_bytes(b'Hello, server!') needs a connection, but none was made (declare expect_connect() before it)
"""  # noqa: E501 (the diagnostic is one line)

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_no_connection(tcpserver):
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    client = await connect(tcpserver.service_port)
    client.transport.write(b"Hello, server!")
    await client.close()

    await tcpserver.join()
