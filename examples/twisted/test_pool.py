"""A passing test: a client keeps a pool of two connections and uses both at
once. Each ``expect_connect()`` returns its connection; steps on it run beside
the other connection's.

Outcome: passed
"""

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_pool(tcpserver):
    first = tcpserver.expect_connect()
    second = tcpserver.expect_connect()  # the first is open: both at once
    for connection, name in ((first, b"first"), (second, b"second")):
        connection.expect_bytes(b"who?")
        connection.send_bytes(name)
        connection.expect_disconnect()

    pool = [await connect(tcpserver.service_port) for _ in range(2)]
    for client in reversed(pool):  # in any order
        client.transport.write(b"who?")
    names = [await pool[0].read(5), await pool[1].read(6)]
    for client in pool:
        await client.close()

    await tcpserver.join()
    assert names == [b"first", b"second"]
