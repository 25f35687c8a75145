"""A failing test: the client never connects.

Each step can have its own timeout, in seconds; here the client gets half a
second to connect.

Outcome: failed
Failure: Timed out waiting for a connection
"""

import pytest


@pytest.mark.asyncio
async def test_expect_connect_times_out(tcpserver):
    tcpserver.expect_connect(timeout=0.5)
    tcpserver.expect_bytes(b"Hello, server!")

    # The client is never started.

    await tcpserver.join()
