"""A failing test: a pool of two, but the client opens a third connection.

Outcome: failed
Failure: Expected 2 connections, but the client opened a third while 2 were open
"""

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_too_many_connections(tcpserver):
    for _ in range(2):
        connection = tcpserver.expect_connect()
        connection.expect_bytes(b"hello")

    pool = [await connect(tcpserver.service_port) for _ in range(3)]
    for client in pool:
        client.transport.write(b"hello")

    await tcpserver.join()
