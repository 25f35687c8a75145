"""A passing test with two servers from tcpserver_factory, each on its own port.

The client asks a primary and a replica for the same key; both must answer.
tcpserver_factory.stop() verifies and closes every server it made;
teardown does the same if the test does not.

Outcome: passed
"""

import pytest_twisted
from clients import connect


async def get(port, key):
    """The client under test: one request, one 5-byte answer, then hang up."""
    client = await connect(port)
    client.transport.write(b"GET " + key + b"\n")
    value = await client.read(5)
    await client.close()
    return value


@pytest_twisted.ensureDeferred
async def test_two_servers(tcpserver_factory):
    primary = tcpserver_factory()
    replica = tcpserver_factory()
    for server in (primary, replica):
        server.expect_connect()
        server.expect_bytes(b"GET colour\n")
        server.send_bytes(b"green")
        server.expect_disconnect()

    assert await get(primary.service_port, b"colour") == b"green"
    assert await get(replica.service_port, b"colour") == b"green"

    await tcpserver_factory.stop()
