"""A failing test: the client opens a second connection while the first is open.

A server accepts one connection at a time. Use tcpserver_factory for more.

Outcome: failed
Failure: Expected one connection at a time, but the client opened a second one while the first was open
"""  # noqa: E501 (the diagnostic is one line)

import asyncio

import pytest


@pytest.mark.asyncio
async def test_second_connection(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    # The client connects twice, as a client with a careless retry might. It
    # keeps both connections: asyncio closes the connection of a StreamWriter
    # that is garbage collected.
    connections = []
    for _attempt in range(2):
        connections.append(await asyncio.open_connection(None, tcpserver.service_port))

    await tcpserver.join()
