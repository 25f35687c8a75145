"""A passing test with two servers from tcpserver_factory, each on its own port.

In an asyncio test, ``await tcpserver_factory()`` makes one more listening
server and ``await tcpserver_factory.stop()`` verifies and closes every server
it made, as in the asyncio-only pytest-tcpclient; teardown does the same if
the test does not.

Outcome: passed
"""

import asyncio

import pytest


async def get(port, key):
    """The client under test: one request, one 5-byte answer, then hang up."""
    reader, writer = await asyncio.open_connection(None, port)
    writer.write(b"GET " + key + b"\n")
    value = await reader.readexactly(5)
    writer.close()
    await writer.wait_closed()
    return value


@pytest.mark.asyncio
async def test_two_servers(tcpserver_factory):
    primary = await tcpserver_factory()
    replica = await tcpserver_factory()
    for server in (primary, replica):
        server.expect_connect()
        server.expect_bytes(b"GET colour\n")
        server.send_bytes(b"green")
        server.expect_disconnect()

    assert await get(primary.service_port, b"colour") == b"green"
    assert await get(replica.service_port, b"colour") == b"green"

    await tcpserver_factory.stop()
